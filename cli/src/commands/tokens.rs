//! `gofast token create|list|revoke`.

use gofast_proto::v1 as pb;
use serde_json::{Value, json};

use crate::{
    args::{Output, TokenCommand},
    client::Client,
    error::CliResult,
    output::{print_json, rfc3339, table},
};

fn token_json(t: &pb::ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_at": rfc3339(t.created_at.as_ref()),
        "last_used_at": rfc3339(t.last_used_at.as_ref()),
    })
}

pub async fn run(server: &str, out: Output, cmd: TokenCommand) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    match cmd {
        TokenCommand::Create { name } => {
            let req = client.req(pb::CreateApiTokenRequest { name });
            let resp = client
                .auth
                .create_api_token(req)
                .await
                .map_err(|s| client.fail(s))?
                .into_inner();
            let token = resp.token.unwrap_or_default();
            match out {
                Output::Json => {
                    let mut v = token_json(&token);
                    v["token"] = json!(resp.secret);
                    print_json(&v);
                }
                Output::Text => {
                    eprintln!(
                        "Created token {} ({}). It is shown only this once:",
                        token.name, token.id
                    );
                    println!("{}", resp.secret);
                    eprintln!("Use it with: GOFAST_TOKEN=<token> gofast deploy main.py");
                }
            }
        }
        TokenCommand::List => {
            let req = client.req(pb::ListApiTokensRequest {});
            let tokens = client
                .auth
                .list_api_tokens(req)
                .await
                .map_err(|s| client.fail(s))?
                .into_inner()
                .tokens;
            match out {
                Output::Json => print_json(&Value::Array(tokens.iter().map(token_json).collect())),
                Output::Text if tokens.is_empty() => {
                    eprintln!("No tokens: create one with `gofast token create ci`.")
                }
                Output::Text => {
                    let time = |t: Option<&prost_types::Timestamp>, none: &str| {
                        rfc3339(t).as_str().unwrap_or(none).to_string()
                    };
                    let rows = tokens.iter().map(|t| {
                        [
                            t.id.clone(),
                            t.name.clone(),
                            time(t.created_at.as_ref(), "-"),
                            time(t.last_used_at.as_ref(), "never"),
                        ]
                    });
                    println!(
                        "{}",
                        table(["ID", "NAME", "CREATED", "LAST USED"], rows, &[])
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let req = client.req(pb::RevokeApiTokenRequest { id: id.clone() });
            client
                .auth
                .revoke_api_token(req)
                .await
                .map_err(|s| client.fail(s))?;
            match out {
                Output::Json => print_json(&json!({ "id": id, "revoked": true })),
                Output::Text => eprintln!("Revoked token {id}; it no longer works."),
            }
        }
    }
    Ok(())
}
