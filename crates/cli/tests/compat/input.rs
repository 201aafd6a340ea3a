//! Where commands come from and how the session is set up: piped stdin, -x, -r/-i, -n, -u,
//! passwords, -e, connection failures.

use crate::harness::{compare, compare_args, slotkv_cli, Invocation, Server};

#[test]
fn commands_from_piped_stdin() {
    let s = Server::start();
    let script: &[u8] = b"set a 1\nget a\n\nincr a\n\"get\" \"a b\"\nfoo\n  \n3 incr a\n0 incr a\nmulti\nget a\nexec\n\"unbalanced\nselect 2\nget a\nquit\nget a\n";
    compare(&s, &[], Invocation::new(&[]).stdin(script));
    compare(&s, &[], Invocation::new(&[]).stdin(script).tty());
    compare(
        &s,
        &[],
        Invocation::new(&["-3"])
            .stdin(b"hgetall h\nhset h a 1\nhgetall h\n")
            .tty(),
    );
    // RESP3 client tracking: invalidation pushes shown in the human form only
    let tracking: &[u8] = b"client tracking on\nget tk\nset tk 3\nget tk\nflushall\nping\n";
    compare(&s, &[], Invocation::new(&["-3"]).stdin(tracking).tty());
    compare(&s, &[], Invocation::new(&["-3"]).stdin(tracking));
    // no trailing newline on the last line, CRLF line ends
    compare(&s, &[], Invocation::new(&[]).stdin(b"set k v\r\nget k"));
}

#[test]
fn stdin_last_argument() {
    let s = Server::start();
    compare(&s, &[], Invocation::new(&["-x", "SET", "k"]).stdin(b"val\nue\n"));
    let r = compare(&s, &[], Invocation::new(&["-x", "ECHO"]).stdin(b"a\x00b\n").tty());
    assert_eq!(r.stdout, "\"a\\x00b\\n\"\n");
}

#[test]
fn repeat_and_interval() {
    let s = Server::start();
    let r = compare_args(&s, &[], &["-r", "3", "INCR", "c"]);
    assert_eq!(r.stdout, "1\n2\n3\n");
    compare(
        &s,
        &[],
        Invocation::new(&["-r", "3", "-i", "0.05", "INCR", "c"]).tty(),
    );
    compare_args(&s, &[], &["-r", "0", "INCR", "c"]);
}

#[test]
fn database_selection() {
    let s = Server::start();
    let setup: &[&[&str]] = &[&["SELECT", "3"], &["SET", "a", "in3"]];
    let r = compare_args(&s, setup, &["-n", "3", "GET", "a"]);
    assert_eq!(r.stdout, "in3\n");
    compare_args(&s, setup, &["-n", "99", "GET", "a"]);
    compare_args(
        &s,
        setup,
        &["-u", &format!("redis://127.0.0.1:{}/3", s.port), "GET", "a"],
    );
}

#[test]
fn passwords_and_warnings() {
    let s = Server::start();
    // No password configured: AUTH fails, the command still runs.
    compare_args(&s, &[], &["-a", "secret", "PING"]);
    compare_args(&s, &[], &["-a", "secret", "--no-auth-warning", "PING"]);
    compare_args(&s, &[], &["--user", "u", "--pass", "p", "PING"]);
    compare_args(&s, &[], &["-a", "secret", "-n", "2", "PING"]);
    let r = compare_args(
        &s,
        &[],
        &["-u", &format!("redis://default:pw@127.0.0.1:{}", s.port), "PING"],
    );
    assert!(r
        .stderr
        .starts_with("Warning: Using a password with '-a' or '-u'"));
    compare_args(&s, &[], &["-u", "http://nope", "PING"]);
}

#[test]
fn passwords_against_a_protected_server() {
    let s = Server::start_with(&["--requirepass", "sekret"]);
    let p = s.port.to_string();
    for args in [
        vec!["-p", &p, "-a", "sekret", "--no-auth-warning", "SET", "k", "v"],
        vec!["-p", &p, "--pass", "sekret", "--no-auth-warning", "PING"],
        vec!["-p", &p, "PING"],
    ] {
        let inv = Invocation::new(&args);
        assert_eq!(
            inv.run(slotkv_cli()),
            inv.run(&crate::harness::reference_cli()),
            "{args:?}"
        );
    }
    let ok = Invocation::new(&["-p", &p, "-a", "sekret", "--no-auth-warning", "GET", "k"]).run(slotkv_cli());
    assert_eq!(ok.stdout, "v\n");
}

#[test]
fn error_exit_code_option() {
    let s = Server::start();
    let r = compare_args(&s, &[], &["-e", "NOSUCH"]);
    assert_eq!(r.code, Some(1));
    let r = compare_args(&s, &[], &["NOSUCH"]);
    assert_eq!(r.code, Some(0));
    compare_args(&s, &[], &["-e", "PING"]);
}

#[test]
fn connection_refused() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = port.to_string();
    let one_shot = Invocation::new(&["-p", &p, "GET", "x"]);
    let ours = one_shot.run(slotkv_cli());
    assert_eq!(ours, one_shot.run(&crate::harness::reference_cli()));
    assert_eq!(
        ours.stderr,
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    assert_eq!(ours.code, Some(1));
    let piped = Invocation::new(&["-p", &p]).stdin(b"get x\nget y\n");
    assert_eq!(
        piped.run(slotkv_cli()),
        piped.run(&crate::harness::reference_cli())
    );
}

#[test]
fn repeated_options_last_wins() {
    let s = Server::start();
    let p = s.port.to_string();
    let inv = Invocation::new(&["-p", "1", "-p", &p, "PING"]);
    assert_eq!(inv.run(slotkv_cli()), inv.run(&crate::harness::reference_cli()));
}

#[test]
fn output_options_last_one_wins() {
    let s = Server::start();
    let setup: &[&[&str]] = &[&["SET", "s", "v"]];
    for flags in [
        ["--raw", "--no-raw"],
        ["--no-raw", "--raw"],
        ["--csv", "--raw"],
        ["--raw", "--csv"],
        ["--no-raw", "--csv"],
        ["--csv", "--no-raw"],
    ] {
        compare_args(&s, setup, &[flags[0], flags[1], "GET", "s"]);
    }
    // options after the command name belong to the command
    compare_args(&s, setup, &["ECHO", "--raw"]);
}

#[test]
fn bad_options() {
    for args in [
        &["--nosuchoption"][..],
        &["-p"],
        &["-n"],
        &["-h", "127.0.0.1", "-r"],
    ] {
        let inv = Invocation::new(args);
        let ours = inv.run(slotkv_cli());
        assert_eq!(ours, inv.run(&crate::harness::reference_cli()), "{args:?}");
        assert_eq!(ours.code, Some(1));
    }
}

#[test]
fn numbers_parsed_like_c() {
    let s = Server::start();
    compare_args(&s, &[], &["-r", "x", "PING"]);
    compare_args(&s, &[], &["-r", "2x", "-i", "0.01abc", "PING"]);
    compare_args(&s, &[], &["-n", "1x", "DBSIZE"]);
}

#[test]
fn server_closing_the_connection() {
    // The command after the kill fails (the error text depends on timing), the next one
    // reconnects.
    let s = Server::start();
    for program in [slotkv_cli().to_string(), crate::harness::reference_cli()] {
        let r = Invocation::new(&["-p", &s.port.to_string()])
            .stdin(b"client kill skipme no\nping\nping\n")
            .run(&program);
        assert_eq!(r.stdout, "1\nPONG\n", "{program}");
        assert!(r.stderr.starts_with("Error: "), "{program}: {}", r.stderr);
        assert_eq!(r.code, Some(0));
    }
}

#[test]
fn reconnect_selects_the_database_again() {
    // Deliberate difference from redis-cli 7.0, which reconnects to db 0 here while its
    // prompt still shows [2].
    let s = Server::start();
    let inv = Invocation::new(&["-p", &s.port.to_string()])
        .stdin(b"select 2\nset a x\nclient kill skipme no\nget a\nget a\n")
        .tty();
    let r = inv.run(slotkv_cli());
    assert_eq!(r.stdout, "OK\nOK\n(integer) 1\n\"x\"\n");
    // EOF or RST, depending on whether the next command reached the closed socket first
    assert!(
        r.stderr == "Error: Server closed the connection\n"
            || r.stderr == "Error: Connection reset by peer\n",
        "{}",
        r.stderr
    );
}
