//! Arbitrary bytes (raw, or laid into a valid frame) into the cluster bus decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| slotkv_fuzz::check_cluster_message(data));
