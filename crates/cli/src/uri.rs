//! `-u redis://[[user]:password@]host[:port][/db]` parsing, with percent-decoding of the
//! user name and password as redis-cli does.

/// The parts of a URI that were present.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uri {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "Invalid URI".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Parses a `redis://` URI; `rediss://` (TLS) is refused since TLS is not supported.
pub fn parse(uri: &str) -> Result<Uri, String> {
    let rest = if let Some(r) = uri.strip_prefix("redis://") {
        r
    } else if uri.starts_with("rediss://") {
        return Err("TLS (rediss://) is not supported".into());
    } else {
        return Err("Invalid URI scheme".into());
    };
    let mut out = Uri::default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let hostport = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(c) => {
                    if c > 0 {
                        out.user = Some(percent_decode(&userinfo[..c])?);
                    }
                    out.password = Some(percent_decode(&userinfo[c + 1..])?);
                }
                None => out.password = Some(percent_decode(userinfo)?),
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    let (host, port) = match hostport.rfind(':') {
        Some(c) if !hostport.ends_with(']') => (&hostport[..c], Some(&hostport[c + 1..])),
        _ => (hostport, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !host.is_empty() {
        out.host = Some(host.to_string());
    }
    // Numbers are read with atoi, as redis-cli does: garbage reads as 0.
    if let Some(p) = port {
        out.port = Some(crate::atoi(p.as_bytes()) as u16);
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        out.db = Some(crate::atoi(p.as_bytes()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let u = parse("redis://us%40er:p%3Ass@example.com:7000/3").unwrap();
        assert_eq!(u.user.as_deref(), Some("us@er"));
        assert_eq!(u.password.as_deref(), Some("p:ss"));
        assert_eq!(u.host.as_deref(), Some("example.com"));
        assert_eq!(u.port, Some(7000));
        assert_eq!(u.db, Some(3));
        let u = parse("redis://:secret@h").unwrap();
        assert_eq!(
            (u.user, u.password.as_deref(), u.port),
            (None, Some("secret"), None)
        );
        let u = parse("redis://[::1]:6380").unwrap();
        assert_eq!((u.host.as_deref(), u.port), (Some("::1"), Some(6380)));
        assert!(parse("http://x").is_err());
        assert_eq!(parse("redis://h/x").unwrap().db, Some(0));
    }
}
