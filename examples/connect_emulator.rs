//! The Kafka Connect REST emulator of the tests as a program, for the Connect stand-in image the
//! Docker tests run (tests/images/build.sh). Listens on 0.0.0.0:8083, or the address given.

#[path = "../tests/support/connect_emulator.rs"]
#[allow(dead_code)]
mod connect_emulator;
#[path = "../tests/support/rest.rs"]
mod rest;

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:8083".into());
    let listener = std::net::TcpListener::bind(&address)
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    let emulator = connect_emulator::Emulator::serve(listener);
    println!("Kafka Connect REST emulator at {}", emulator.url);
    loop {
        std::thread::park();
    }
}
