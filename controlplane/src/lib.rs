//! The gofast control plane. Direction of dependencies: `server` (wiring) →
//! `grpc`/`http` (edges) → `service` (rules) → `store`, `runtime`, validate.

pub mod auth;
pub mod config;
pub mod config_kube;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod server;
pub mod service;
pub mod store;

pub use config::Config;
pub use server::run;
