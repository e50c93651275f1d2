use std::sync::Arc;

use futures::StreamExt;
use gofast_proto::v1::{self as pb, app_service_server::AppService};
use tonic::{Request, Response, Status};

use super::{caller, convert, to_status};
use crate::service::Platform;

pub struct AppApi(pub Arc<Platform>);

type EventStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::DeployEvent, Status>> + Send>>;

#[tonic::async_trait]
impl AppService for AppApi {
    async fn create_app(
        &self,
        req: Request<pb::CreateAppRequest>,
    ) -> Result<Response<pb::CreateAppResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let (view, revision) = self
            .0
            .create_app(&c, &r.name, convert::files(r.files))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateAppResponse {
            app: Some(convert::app(&view)),
            revision,
        }))
    }

    async fn update_app(
        &self,
        req: Request<pb::UpdateAppRequest>,
    ) -> Result<Response<pb::UpdateAppResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let (view, revision) = self
            .0
            .update_app(&c, &r.app, convert::files(r.files))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateAppResponse {
            app: Some(convert::app(&view)),
            revision,
        }))
    }

    async fn get_app(
        &self,
        req: Request<pb::GetAppRequest>,
    ) -> Result<Response<pb::GetAppResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let view = self
            .0
            .get_app(&c, &req.into_inner().app)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetAppResponse {
            app: Some(convert::app(&view)),
        }))
    }

    async fn list_apps(
        &self,
        req: Request<pb::ListAppsRequest>,
    ) -> Result<Response<pb::ListAppsResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let apps = self.0.list_apps(&c).await.map_err(to_status)?;
        Ok(Response::new(pb::ListAppsResponse {
            apps: apps.iter().map(convert::app).collect(),
        }))
    }

    async fn delete_app(
        &self,
        req: Request<pb::DeleteAppRequest>,
    ) -> Result<Response<pb::DeleteAppResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        self.0
            .delete_app(&c, &req.into_inner().app)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteAppResponse {}))
    }

    async fn get_app_status(
        &self,
        req: Request<pb::GetAppStatusRequest>,
    ) -> Result<Response<pb::GetAppStatusResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let (view, events) = self
            .0
            .app_status(&c, &req.into_inner().app)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetAppStatusResponse {
            app: Some(convert::app(&view)),
            events: events.iter().map(convert::event).collect(),
        }))
    }

    type WatchDeploymentStream = EventStream;

    async fn watch_deployment(
        &self,
        req: Request<pb::WatchDeploymentRequest>,
    ) -> Result<Response<Self::WatchDeploymentStream>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let events = self
            .0
            .watch_deployment(&c, &r.app, r.revision)
            .await
            .map_err(to_status)?;
        Ok(Response::new(Box::pin(
            events.map(|e| Ok(convert::event(&e))),
        )))
    }

    async fn validate_code(
        &self,
        req: Request<pb::ValidateCodeRequest>,
    ) -> Result<Response<pb::ValidateCodeResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let files = convert::files(req.into_inner().files);
        let diagnostics = self.0.validate_code(&c, files).await.map_err(to_status)?;
        Ok(Response::new(pb::ValidateCodeResponse {
            ok: gofast_validate::is_deployable(&diagnostics),
            diagnostics: diagnostics
                .iter()
                .map(convert::diagnostic_to_proto)
                .collect(),
        }))
    }

    async fn rollback_app(
        &self,
        req: Request<pb::RollbackAppRequest>,
    ) -> Result<Response<pb::RollbackAppResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let to = (r.to_revision > 0).then_some(r.to_revision);
        let (view, revision) = self
            .0
            .rollback_app(&c, &r.app, to)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RollbackAppResponse {
            app: Some(convert::app(&view)),
            revision,
        }))
    }

    type StreamLogsStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::StreamLogsResponse, Status>> + Send>,
    >;

    async fn stream_logs(
        &self,
        req: Request<pb::StreamLogsRequest>,
    ) -> Result<Response<Self::StreamLogsStream>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let tail = if r.tail == 0 { 100 } else { r.tail as usize };
        let lines = self
            .0
            .stream_logs(&c, &r.app, tail, r.follow)
            .await
            .map_err(to_status)?;
        Ok(Response::new(Box::pin(
            lines.map(|line| Ok(pb::StreamLogsResponse { line })),
        )))
    }

    async fn list_revisions(
        &self,
        req: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let revisions = self
            .0
            .list_revisions(&c, &req.into_inner().app)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListRevisionsResponse {
            revisions: revisions.iter().map(convert::revision).collect(),
        }))
    }

    async fn get_revision(
        &self,
        req: Request<pb::GetRevisionRequest>,
    ) -> Result<Response<pb::GetRevisionResponse>, Status> {
        let c = caller(&self.0, &req).await.map_err(to_status)?;
        let r = req.into_inner();
        let number = (r.revision > 0).then_some(r.revision);
        let view = self
            .0
            .get_revision(&c, &r.app, number)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetRevisionResponse {
            revision: Some(convert::revision(&view)),
            files: convert::files_to_proto(&view.revision.files),
        }))
    }
}
