//! Generates the gofast.v1 messages, clients and servers. protoc comes from a
//! crate so that a fresh machine needs no system install.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe { env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Messages know their type URL (`prost::Name`), so the server and the
    // CLI name a status detail from the message instead of a string.
    let mut config = tonic_prost_build::Config::new();
    config
        .enable_type_names()
        .type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("gofast_descriptor.bin"))
        .compile_with_config(
            config,
            &["gofast/v1/auth.proto", "gofast/v1/apps.proto"],
            &["."],
        )?;
    println!("cargo:rerun-if-changed=gofast");
    Ok(())
}
