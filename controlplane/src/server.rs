//! Puts the pieces together and serves them on one port: gRPC (HTTP/2),
//! grpc-web (HTTP/1.1), health, reflection, REST, metrics and the gateway.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, middleware};
use gofast_proto::v1::{
    FILE_DESCRIPTOR_SET, app_service_server::AppServiceServer,
    auth_service_server::AuthServiceServer,
};
use time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_web::GrpcWebLayer;
use tracing::info;

use crate::{
    auth::JwtKeys,
    config::{Config, RuntimeKind},
    grpc::{AppApi, AuthApi},
    http,
    runtime::{
        Runtime,
        kubernetes::{KubeRuntime, KubeSettings},
        local::{Isolation, Limits, LocalRuntime, LocalSettings, PythonSetup},
    },
    service::{Platform, PlatformSettings},
    store::Store,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("cannot listen on {addr}: {source}; is another gofast running? Try --addr 127.0.0.1:0")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Origins(#[from] crate::http::OriginError),
    #[error("{0}")]
    Secret(#[from] crate::auth::SecretError),
    #[error("{0}")]
    Settings(String),
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(String),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Runs the platform until `shutdown` fires, then stops every app.
/// `say` tells the person at the terminal what is happening.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(), StartError> {
    let data_dir = config.data_dir();
    let dir_err = |source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&data_dir).map_err(dir_err)?;
    set_private(&data_dir).map_err(dir_err)?;

    let store: Arc<dyn Store> = crate::store::open(&config.store, &data_dir).await?;

    let secret = config.jwt_secret_bytes(&data_dir)?;
    let jwt = JwtKeys::new(&secret, Duration::hours(config.token_hours.into()));

    let runtime: Arc<dyn Runtime> = match config.runtime {
        RuntimeKind::Local => {
            let setup = PythonSetup {
                data_dir: &data_dir,
                venv: config.venv.as_deref(),
                python: &config.python,
            };
            let env = setup.prepare(say).await?;
            let settings = LocalSettings {
                apps_dir: data_dir.join("apps"),
                start_timeout: config.start_timeout(),
                stop_grace: std::time::Duration::from_secs(5),
            };
            // Files of a previous run belong to processes that are gone.
            let _ = std::fs::remove_dir_all(&settings.apps_dir);
            let limits = Limits::from_config(&config.app_memory, &config.app_cpu);
            let isolation = Isolation::detect(
                config.sandbox,
                config.cgroups,
                limits,
                &env,
                config.start,
                &settings.apps_dir,
            )
            .await?;
            // Once, at start: what protects apps here, and loudly what does not.
            for line in isolation.report() {
                say(&line);
            }
            Arc::new(LocalRuntime::new(env, settings, isolation))
        }
        RuntimeKind::Kubernetes => {
            let k = &config.kube;
            let settings = KubeSettings {
                namespace: k.kube_namespace.clone(),
                runner_image: k.runner_image.clone(),
                // Apps' routes match the apps host only, never the platform's.
                ingress_host: match &k.ingress_host {
                    Some(h) => Some(h.clone()),
                    None => Some(
                        http::Origins::new(&config.public_base(), config.apps_url.as_deref())?
                            .apps_host()
                            .to_string(),
                    ),
                },
                traefik_namespace: k.traefik_namespace.clone(),
                entry_point: k.traefik_entrypoint.clone(),
                // The same settings as the local runtime's limits.
                cpu: config.app_cpu.to_string(),
                memory: config.app_memory.to_string(),
                runtime_class: k.runtime_class.clone(),
                start_timeout_seconds: config.start_timeout.min(3600) as i32,
                placement: k.placement(),
                route_probe_url: k.route_probe_url.clone(),
                traefik_api_url: k.traefik_api_url.clone(),
                activator: k.activator().map_err(StartError::Settings)?,
            };
            if settings.activator.is_none() && !config.sleep_after.is_zero() {
                say("note: apps in the cluster do not sleep (no --kube-activator-address)");
            }
            Arc::new(KubeRuntime::connect(settings).await?)
        }
    };

    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let public_base = match &config.public_url {
        Some(_) => config.public_base(),
        None => format!("http://{addr}"),
    };
    let origins = Arc::new(http::Origins::new(
        &public_base,
        config.apps_url.as_deref(),
    )?);
    let platform = Platform::new(
        store,
        runtime,
        jwt,
        PlatformSettings {
            apps_base: origins.apps.clone(),
            reconcile_every: std::time::Duration::from_secs(config.reconcile_seconds.max(1)),
            idle_lifetime: std::time::Duration::from_secs(config.idle_hours * 3600),
            sleep_after: (!config.sleep_after.is_zero()).then_some(config.sleep_after),
            accounts: config.account_settings(),
            validation: config.validation_policy(),
        },
    );
    platform.spawn_reconciler(shutdown.clone());
    if config.runtime == RuntimeKind::Kubernetes {
        crate::runtime::kubernetes::activity::follow_traefik(
            &config.kube,
            platform.clone(),
            std::time::Duration::from_secs(config.reconcile_seconds.max(1)),
            shutdown.clone(),
            say,
        );
    }

    let app = router(platform.clone(), origins.clone())?;
    info!(%addr, data_dir = %data_dir.display(), apps = %origins.apps, "serving");
    match &config.public_url {
        Some(_) => say(&format!(
            "gofast is listening on http://{addr} (public URL {public_base}, apps at {})",
            origins.apps
        )),
        None => say(&format!(
            "gofast is listening on {public_base} (apps at {})",
            origins.apps
        )),
    }
    http::listen::raise_fd_limit();
    let limits = http::listen::ConnLimits {
        header_timeout: std::time::Duration::from_secs(config.header_timeout.max(1)),
        max_connections: config.max_connections.max(1),
        max_per_client: config.max_connections_per_client.max(1),
        trusted_proxies: config.trusted_proxies.clone(),
    };
    http::listen::serve(listener, app, limits, shutdown.clone()).await;
    say("Stopping apps…");
    platform.shutdown().await;
    Ok(())
}

/// The whole port: gRPC services (with grpc-web) beside the HTTP routes,
/// each origin seeing only its own.
pub fn router(platform: Arc<Platform>, origins: Arc<http::Origins>) -> Result<Router, StartError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // The reporter only flips SERVING flags; no await on anything slow.
    tokio::spawn(async move {
        health_reporter
            .set_serving::<AuthServiceServer<AuthApi>>()
            .await;
        health_reporter
            .set_serving::<AppServiceServer<AppApi>>()
            .await;
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Reflection(e.to_string()))?;

    let grpc = Routes::new(AuthServiceServer::new(AuthApi(platform.clone())))
        .add_service(AppServiceServer::with_interceptor(
            AppApi(platform.clone()),
            crate::grpc::require_bearer,
        ))
        .add_service(health_service)
        .add_service(reflection)
        .into_axum_router()
        .layer(GrpcWebLayer::new());

    Ok(grpc
        .merge(http::router(platform.clone()))
        .route_layer(middleware::from_fn_with_state(
            platform,
            http::record_requests,
        ))
        .layer(middleware::from_fn_with_state(
            origins,
            http::route_by_origin,
        )))
}

fn set_private(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Cancels `token` on Ctrl-C or SIGTERM: one signal stops the server, the
/// gateway and every app.
pub async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    token.cancel();
}
