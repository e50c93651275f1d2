//! The one API contract of gofast, generated from `proto/gofast/v1/*.proto`.

pub mod v1 {
    tonic::include_proto!("gofast.v1");

    /// The encoded descriptors, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("gofast_descriptor");
}
