//! SUBSCRIBE (RESP2 arrays and RESP3 pushes) and MONITOR: replies that arrive without a
//! request, read until the client is killed.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slotkv_client::Frame;

use crate::harness::{reference_cli, slotkv_cli, Server};

struct Running {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Running {
    fn start(program: &str, args: &[&str], tty: bool) -> Running {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_remove("FAKETTY");
        if tty {
            cmd.env("FAKETTY", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Running { child, out }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn subscribe_case(extra: &[&str], tty: bool) {
    let s = Server::start();
    let p = s.port.to_string();
    let mut args = vec!["-p", &p];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["SUBSCRIBE", "ch1", "ch2"]);
    let ours = Running::start(slotkv_cli(), &args, tty);
    let theirs = Running::start(&reference_cli(), &args, tty);
    wait_until("both subscribers", || {
        s.exec(&[&["PUBSUB", "NUMSUB", "ch2"]])[0]
            == Frame::Array(vec![Frame::Bulk("ch2".into()), Frame::Integer(2)])
    });
    s.exec(&[
        &["PUBLISH", "ch1", "hi there"],
        &["PUBLISH", "ch2", "line\nbreak"],
    ]);
    wait_until("the messages", || {
        ours.output().contains("break") && theirs.output().contains("break")
    });
    assert_eq!(ours.output(), theirs.output(), "{extra:?} tty={tty}");
}

#[test]
fn subscribe_raw_and_tty() {
    subscribe_case(&[], false);
    subscribe_case(&[], true);
}

#[test]
fn subscribe_resp3() {
    subscribe_case(&["-3"], false);
    subscribe_case(&["-3"], true);
}

#[test]
fn monitor_streams_commands() {
    let s = Server::start();
    let p = s.port.to_string();
    let ours = Running::start(slotkv_cli(), &["-p", &p, "MONITOR"], true);
    wait_until("the monitor", || ours.output().starts_with("OK\n"));
    s.exec(&[&["SET", "monitored", "1"]]);
    wait_until("the monitored command", || {
        ours.output().contains("\"monitored\"")
    });
    let out = ours.output();
    let line = out.lines().find(|l| l.contains("\"monitored\"")).unwrap();
    assert!(line.ends_with("\"SET\" \"monitored\" \"1\""), "{line}");
}
