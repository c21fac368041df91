//! The tests' Confluent-API schema registry as a program, for the registry stand-in image the
//! Docker tests run (tests/images/build.sh). Listens on 0.0.0.0:8080, or the address given, and
//! answers under /apis/ccompat/v7 as Apicurio Registry does.

#[path = "../tests/support/registry.rs"]
#[allow(dead_code)]
mod registry;
#[path = "../tests/support/rest.rs"]
mod rest;

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:8080".into());
    let listener = std::net::TcpListener::bind(&address)
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    let registry = registry::Registry::serve(listener);
    println!("schema registry (Confluent API) at {}", registry.url);
    loop {
        std::thread::park();
    }
}
