//! Arbitrary bytes, split at an arbitrary point, into `RequestParser::next`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| slotkv_fuzz::check_request_parser(data));
