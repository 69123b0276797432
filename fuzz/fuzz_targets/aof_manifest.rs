#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rdbtool_fuzz::run_bounded("aof_manifest", data);
});
