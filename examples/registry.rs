//! The tests' Confluent-API schema registry as a program, for the registry stand-in image the
//! Docker tests run (tests/images/build.sh). Listens on 0.0.0.0:8080, or the address given, and
//! answers under /apis/ccompat/v7 as Apicurio Registry does; and, as Apicurio 3.2+ does on its
//! Quarkus management interface, `GET /health/ready` on port 9000 (SmallRye Health's body).

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
    let host = address.rsplit_once(':').map_or("0.0.0.0", |(h, _)| h);
    let management = std::net::TcpListener::bind(format!("{host}:9000"))
        .unwrap_or_else(|e| panic!("cannot listen on {host}:9000: {e}"));
    rest::serve(
        management,
        "application/json",
        std::sync::Arc::new(|method, target, _| match (method, target) {
            ("GET", "/health/ready" | "/health/live" | "/health") => (
                200,
                serde_json::json!({"status": "UP", "checks": [{"name": "Database connections health check", "status": "UP"}]}),
            ),
            _ => (404, serde_json::json!({"status": "NOT FOUND"})),
        }),
    );
    println!("schema registry (Confluent API) at {}", registry.url);
    loop {
        std::thread::park();
    }
}
