//! The OpenAPI document of the REST API, generated from the handlers and
//! types (the paths come from the router's list, `rest::endpoints`), served
//! at `GET /api/openapi.json`.

use std::sync::LazyLock;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gofast",
        description = "Deploy FastAPI apps and follow them. The same service as the gRPC API \
                       (gofast.v1.AuthService, gofast.v1.AppService) on the same port. \
                       Authenticate with `Authorization: Bearer <token>`: the access token of \
                       `POST /api/auth/login`, or an API token. Every error answers \
                       `{code, message, details?}` with the matching HTTP status.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "apps", description = "The caller's apps and their deploys"),
        (name = "meta", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// The `bearer` security scheme: a JWT from login, or an API token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The access_token of POST /api/auth/login (a JWT), or an API token \
                         from `gofast token create`",
                    ))
                    .build(),
            ),
        );
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    super::document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI document of this API", content_type = "application/json", body = Object),
    ),
)]
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}
