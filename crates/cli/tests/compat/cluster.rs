//! `-c`: following -MOVED and -ASK between two cluster nodes.

use std::time::{Duration, Instant};

use slotkv_client::Frame;

use crate::harness::{reference_cli, slotkv_cli, Invocation, Run, Server};

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) | Frame::Error(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn cluster_node() -> Server {
    Server::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
}

/// Two masters: slots 0-8191 on `a`, 8192-16383 on `b`.
fn two_node_cluster() -> (Server, Server) {
    let a = cluster_node();
    let b = cluster_node();
    a.exec(&[&["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]]);
    b.exec(&[&["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]]);
    let bport = b.port.to_string();
    a.exec(&[&["CLUSTER", "MEET", "127.0.0.1", &bport]]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = [&a, &b]
            .iter()
            .all(|n| text(&n.exec(&[&["CLUSTER", "INFO"]])[0]).contains("cluster_state:ok"));
        if ok {
            return (a, b);
        }
        assert!(Instant::now() < deadline, "cluster did not become ok");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn both(inv: &Invocation) -> Run {
    let ours = inv.run(slotkv_cli());
    let theirs = inv.run(&reference_cli());
    assert_eq!(ours, theirs, "{:?}", inv.args);
    ours
}

#[test]
fn moved_and_ask_redirections() {
    let (a, b) = two_node_cluster();
    let ap = a.port.to_string();
    let bp = b.port.to_string();
    // "foo" hashes to slot 12182 (node b), "bar" to 5061 (node a).
    let r = both(&Invocation::new(&["-c", "-p", &ap, "SET", "foo", "1"]));
    assert_eq!(r.stdout, "OK\n");
    both(&Invocation::new(&["-c", "-p", &ap, "GET", "foo"]));
    // without -c the MOVED error is printed
    let r = both(&Invocation::new(&["-p", &ap, "GET", "foo"]));
    assert_eq!(r.stdout, format!("MOVED 12182 127.0.0.1:{bp}\n\n"));
    // interactive (piped) sessions announce each redirection
    let r = both(&Invocation::new(&["-c", "-p", &ap]).stdin(b"set foo x\nget foo\nget bar\n"));
    assert!(r.stdout.starts_with(&format!(
        "-> Redirected to slot [12182] located at 127.0.0.1:{bp}\nOK\n"
    )));
    both(
        &Invocation::new(&["-c", "-p", &ap])
            .stdin(b"get foo\nget bar\n")
            .tty(),
    );

    // Slot 12182 migrating from b to a: keys missing on b get -ASK.
    let a_id = text(&a.exec(&[&["CLUSTER", "MYID"]])[0]);
    let b_id = text(&b.exec(&[&["CLUSTER", "MYID"]])[0]);
    b.exec(&[&["CLUSTER", "SETSLOT", "12182", "MIGRATING", &a_id]]);
    a.exec(&[&["CLUSTER", "SETSLOT", "12182", "IMPORTING", &b_id]]);
    let r = both(&Invocation::new(&["-p", &bp, "SET", "{foo}new", "1"]));
    assert_eq!(r.stdout, format!("ASK 12182 127.0.0.1:{ap}\n\n"));
    let r = both(&Invocation::new(&["-c", "-p", &bp, "SET", "{foo}new", "1"]));
    assert_eq!(r.stdout, "OK\n");
    both(&Invocation::new(&["-c", "-p", &bp]).stdin(b"set {foo}z 1\nget {foo}z\n"));
}
