//! A small HTTP/1.1 file server on 127.0.0.1 for the plugin tests: serves byte bodies by path,
//! honours `Range: bytes=N-`, counts requests, and can drop a connection halfway through a body.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Paths whose next N responses stop halfway through the body.
    drops: HashMap<String, usize>,
}

pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (state.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &s, &r));
            }
        });
        Server {
            base,
            state,
            requests,
        }
    }

    pub fn put(&self, path: &str, body: Vec<u8>) -> String {
        self.state
            .lock()
            .expect("lock")
            .files
            .insert(path.to_string(), body);
        format!("{}{path}", self.base)
    }

    /// The next `times` responses for `path` stop after half the body.
    pub fn drop_midway(&self, path: &str, times: usize) {
        self.state
            .lock()
            .expect("lock")
            .drops
            .insert(path.to_string(), times);
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, requests: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut range_start = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range_start = value.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (body, drop) = {
        let mut state = state.lock().expect("lock");
        let body = state.files.get(&path).cloned();
        let drop = match state.drops.get_mut(&path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        (body, drop)
    };
    let mut stream = stream;
    let Some(body) = body else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = range_start.min(body.len());
    let part = &body[start..];
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            part.len(),
            body.len().saturating_sub(1),
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            part.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    let sent = if drop { &part[..part.len() / 2] } else { part };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
}
