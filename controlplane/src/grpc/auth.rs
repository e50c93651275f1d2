use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::extract::ConnectInfo;

use gofast_proto::v1::{self as pb, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

use super::{caller, convert, to_status};
use crate::service::Platform;

pub struct AuthApi(pub Arc<Platform>);

impl AuthApi {
    /// The client's address, for throttling: the listener records the peer
    /// of every connection (tonic's own `remote_addr` is set only by tonic's
    /// server); behind a trusted proxy, X-Forwarded-For says who it is.
    fn client_ip<T>(&self, req: &Request<T>) -> Option<IpAddr> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .or_else(|| req.remote_addr())
            .map(|a| a.ip());
        let forwarded: Vec<&str> = req
            .metadata()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        self.0.client_address(peer, &forwarded)
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn signup(
        &self,
        req: Request<pb::SignupRequest>,
    ) -> Result<Response<pb::SignupResponse>, Status> {
        let client = self.client_ip(&req);
        let r = req.into_inner();
        let user = self
            .0
            .signup(&r.email, &r.password, client)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SignupResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let client = self.client_ip(&req);
        let r = req.into_inner();
        let s = self
            .0
            .login(&r.email, &r.password, client)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::LoginResponse {
            access_token: s.access_token,
            token_type: "bearer".into(),
            expires_at: convert::timestamp(s.expires_at),
            user: Some(convert::user(&s.user)),
        }))
    }

    async fn logout(
        &self,
        req: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        self.0.logout(&c).await.map_err(to_status)?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn change_password(
        &self,
        req: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let client = self.client_ip(&req);
        let r = req.into_inner();
        let (sessions_ended, revoked) = self
            .0
            .change_password(
                &c,
                &r.current_password,
                &r.new_password,
                r.revoke_api_tokens,
                client,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ChangePasswordResponse {
            sessions_ended,
            api_tokens_revoked: revoked as u64,
        }))
    }

    async fn me(&self, req: Request<pb::MeRequest>) -> Result<Response<pb::MeResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let user = self.0.me(&c).await.map_err(to_status)?;
        Ok(Response::new(pb::MeResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn create_api_token(
        &self,
        req: Request<pb::CreateApiTokenRequest>,
    ) -> Result<Response<pb::CreateApiTokenResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let (token, secret) = self
            .0
            .create_token(&c, &req.into_inner().name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateApiTokenResponse {
            token: Some(convert::token(&token)),
            secret,
        }))
    }

    async fn list_api_tokens(
        &self,
        req: Request<pb::ListApiTokensRequest>,
    ) -> Result<Response<pb::ListApiTokensResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let tokens = self.0.list_tokens(&c).await.map_err(to_status)?;
        Ok(Response::new(pb::ListApiTokensResponse {
            tokens: tokens.iter().map(convert::token).collect(),
        }))
    }

    async fn revoke_api_token(
        &self,
        req: Request<pb::RevokeApiTokenRequest>,
    ) -> Result<Response<pb::RevokeApiTokenResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        self.0
            .revoke_token(&c, &req.into_inner().id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RevokeApiTokenResponse {}))
    }
}
