//! WebSockets through the gateway, end to end: an echo app answers text and
//! binary frames, either side may close, another user's app id is refused
//! like any request, and a tunnel lives exactly as long as its app's
//! process: an unrelated deploy leaves it open, a redeploy or delete of its
//! own app closes it.

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Error as WsError, Message, protocol::frame::coding::CloseCode},
};

fn ws_url(app_url: &str) -> String {
    format!("{}ws", app_url.replacen("http://", "ws://", 1))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app_url: &str) -> Socket {
    let (ws, resp) = connect_async(ws_url(app_url)).await.expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

async fn next(ws: &mut Socket) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .expect("the tunnel went silent")
        .and_then(Result::ok)
}

async fn echoes(ws: &mut Socket, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
    assert_eq!(next(ws).await, Some(Message::text(format!("echo: {text}"))));
}

/// Waits until the server ends the tunnel: a close frame or the end of the stream.
async fn closed_by_server(ws: &mut Socket) {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Err(_) => panic!("the tunnel stayed open"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echo_app_answers_text_and_binary_frames_and_either_side_closes() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let dir = tempfile::tempdir().unwrap();
    let url = ada.deploy(&[&write_app(dir.path(), "chat", WS_ECHO)], "chat");

    let mut ws = open(&url).await;
    echoes(&mut ws, "hello").await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::binary(vec![3u8, 2, 1])));
    // The client closes: the app sees it and the close handshake completes.
    ws.close(None).await.unwrap();
    assert!(matches!(
        next(&mut ws).await,
        Some(Message::Close(_)) | None
    ));

    // The app closes, with its own code.
    let mut ws = open(&url).await;
    ws.send(Message::text("bye")).await.unwrap();
    match next(&mut ws).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::from(4000)),
        other => panic!("expected the app's close frame, got {other:?}"),
    }

    // Plain HTTP to the same app still works beside it.
    assert_eq!(get_json(&url).await["chat"], "ws at /ws");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_to_another_users_app_is_refused_like_any_request() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let bob = platform.user("bob@example.com");
    let dir = tempfile::tempdir().unwrap();
    let adas = ada.deploy(&[&write_app(dir.path(), "chat", WS_ECHO)], "chat");
    let bobs = bob.deploy(&[&write_app(dir.path(), "bobs", WS_ECHO)], "bobs");
    // Ada's app id under Bob's user id.
    let app_part = adas.split("/app/").nth(1).unwrap();
    let user_part = bobs.split("/app/").next().unwrap();
    let crossed = format!("{user_part}/app/{app_part}");
    match connect_async(ws_url(&crossed)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("the crossed handshake was not refused: {other:?}"),
    }
    // And on the platform's host, no app at all: a redirect, never a tunnel.
    let on_platform = ws_url(&adas).replacen(
        &platform.apps.replacen("http://", "ws://", 1),
        &platform.url.replacen("http://", "ws://", 1),
        1,
    );
    assert!(connect_async(on_platform).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_survives_an_unrelated_deploy_and_ends_with_its_own_app() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let dir = tempfile::tempdir().unwrap();
    let url = ada.deploy(&[&write_app(dir.path(), "chat", WS_ECHO)], "chat");
    let mut ws = open(&url).await;
    echoes(&mut ws, "before").await;

    ada.deploy(
        &[&write_app(dir.path(), "other", &hello_main("other"))],
        "other",
    );
    echoes(&mut ws, "after an unrelated deploy").await;

    // A new revision of its own app: the old process stops, the tunnel ends.
    let changed = WS_ECHO.replace("ws at /ws", "ws at /ws, v2");
    let again = ada.deploy(&[&write_app(dir.path(), "chat", &changed)], "chat");
    assert_eq!(again, url);
    closed_by_server(&mut ws).await;
    // The new revision takes new tunnels.
    let mut ws = open(&url).await;
    echoes(&mut ws, "v2").await;

    // Deleting the app ends its tunnels too.
    let out = ada.run(&["delete", "chat", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    closed_by_server(&mut ws).await;
    match connect_async(ws_url(&url)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("a deleted app took a WebSocket: {other:?}"),
    }
}
