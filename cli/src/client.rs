//! A connection to the server, with the caller's token on every request.

use std::time::Duration;

use gofast_controlplane::http::rest::types::ErrorCode;
use gofast_proto::v1::{
    app_service_client::AppServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::{Request, metadata::MetadataValue, transport::Channel};

use crate::{
    credentials,
    error::{CliError, CliResult, Exit, unreachable_server},
};

pub struct Client {
    pub server: String,
    pub auth: AuthServiceClient<Channel>,
    pub apps: AppServiceClient<Channel>,
    token: Option<String>,
}

impl Client {
    /// Connects without credentials (signup, login).
    pub async fn anonymous(server: &str) -> CliResult<Self> {
        let server = server.trim_end_matches('/').to_string();
        let endpoint = Channel::from_shared(server.clone())
            .map_err(|_| {
                CliError::usage(format!("{server:?} is not a server URL"))
                    .hint("use a URL like http://127.0.0.1:8080")
            })?
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint
            .connect()
            .await
            .map_err(|_| unreachable_server(&server))?;
        Ok(Self {
            auth: AuthServiceClient::new(channel.clone()),
            apps: AppServiceClient::new(channel)
                .max_decoding_message_size(16 << 20)
                .max_encoding_message_size(16 << 20),
            server,
            token: None,
        })
    }

    /// Connects with GOFAST_TOKEN or the token saved by `gofast login`.
    pub async fn authenticated(server: &str) -> CliResult<Self> {
        let mut client = Self::anonymous(server).await?;
        let token = match std::env::var("GOFAST_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            Some(t) => t.trim().to_string(),
            None => credentials::load(&client.server)?
                .map(|s| s.access_token)
                .ok_or_else(|| {
                    CliError::new(
                        Exit::Connection,
                        ErrorCode::Unauthenticated,
                        format!("not logged in to {}", client.server),
                    )
                    .hint("run `gofast login --email you@example.com`, or set GOFAST_TOKEN")
                })?,
        };
        client.token = Some(token);
        Ok(client)
    }

    /// Wraps a message in a request that carries the token.
    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut req = Request::new(message);
        if let Some(token) = &self.token
            && let Ok(value) = MetadataValue::try_from(format!("Bearer {token}"))
        {
            req.metadata_mut().insert("authorization", value);
        }
        req
    }

    /// Maps a failed call to a CLI error.
    pub fn fail(&self, status: tonic::Status) -> CliError {
        CliError::from_status(status, &self.server)
    }
}
