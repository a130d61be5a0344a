//! The API's own description: `/api/v1/openapi.json` lists every route
//! the server answers (each operation it names is routed), with the bearer
//! scheme and the error body; `/docs` is served from the binary with no
//! asset fetched from elsewhere. (Schemathesis fuzzes the server against
//! this document in `scripts/test`.)

use reqwest::{Method, StatusCode};

use crate::helpers::{Setup, spawn_app_on};

#[tokio::test]
async fn the_document_describes_every_route_it_routes() {
    let app = spawn_app_on(Setup::sqlite).await;
    let spec = app
        .send(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(spec.status, StatusCode::OK);
    let spec = spec.body;
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(spec["components"]["schemas"]["ErrorBody"]["properties"]["code"].is_object());
    assert_eq!(spec["info"]["title"], "Meetings", "{}", spec["info"]);

    // Every reference resolves, and every operation has an id of its own.
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "#/components/schemas/{name} is referenced but not defined"
        );
    }
    let mut ids = std::collections::HashSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(id) = operation["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            }
        }
    }
    // What makes a thing links to what uses it.
    let made = &spec["paths"]["/api/v1/meetings"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        made["join"]["parameters"]["meeting"], "$response.body#/meeting_id",
        "{made}"
    );
    let joined =
        &spec["paths"]["/api/v1/meetings/{meeting}/join"]["post"]["responses"]["200"]["links"];
    assert_eq!(
        joined["change_role"]["parameters"]["meeting"],
        "$request.path.meeting"
    );
    for link in made
        .as_object()
        .unwrap()
        .values()
        .chain(joined.as_object().unwrap().values())
    {
        let id = link["operationId"].as_str().unwrap();
        assert!(ids.contains(id), "a link to {id}, which is no operation");
    }

    let token = app.token("alice");
    let paths = spec["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{meeting}", "abc-defg-hij")
            .replace("{participant_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{recording_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{user_id}", "bob");
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            operations += 1;
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} lists its answers"
            );
            let answer = app
                .send(method.clone(), &concrete, Some(&token), None, &[])
                .await;
            assert!(
                !matches!(answer.code(), "ROUTE_NOT_FOUND" | "METHOD_NOT_ALLOWED"),
                "{method} {path} is in the document but not routed: {:?}",
                answer.body
            );
        }
    }
    // 50 under /api/v1 (8 of them webhooks), the WebSocket, and three ops
    // routes.
    assert_eq!(operations, 54, "{:?}", paths.keys().collect::<Vec<_>>());
}

#[tokio::test]
async fn the_reference_page_is_served_from_the_binary() {
    let app = spawn_app_on(Setup::sqlite).await;
    let page = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let sources: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!sources.is_empty(), "{html}");
    for source in &sources {
        assert!(
            source.starts_with("./"),
            "{source} is fetched from elsewhere"
        );
        let asset = app
            .client
            .get(format!("{}/docs/{}", app.base, &source[2..]))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{source}");
        assert!(!asset.bytes().await.unwrap().is_empty(), "{source}");
    }
    let init = app.text("/docs/swagger-initializer.js").await;
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    let stylesheet = html.contains("href=\"./swagger-ui.css\"");
    assert!(stylesheet, "{html}");
}

/// Schemathesis (PyPI) generates requests from the document, examples and
/// edge cases and random ones, and checks every answer against it: no
/// server error, every status, content type, header and body as
/// documented. Bounded (`--max-examples`) and seeded, so a run is the same
/// in CI. Requests the schema allows but a rule of the meeting refuses (a
/// start time in the past, a role the caller lacks) answer their
/// documented 4xx, which is what is checked; whether the server accepts
/// every schema-valid request is not (no schema can say those rules).
#[tokio::test]
async fn the_api_holds_to_its_own_document_under_fuzzing() {
    let app = crate::media::media_app_with(Setup::sqlite, |c| {
        c.edge = std::mem::take(&mut c.edge).unlimited();
    })
    .await;
    let python = crate::media::peers_python();
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    let token = app.token_with_roles("alice", &["admin"]);
    // Path parameters that name real things, so requests reach the rules
    // and the success answers, not only 404: a meeting alice hosts, with
    // bob in it.
    let meeting = app
        .create_meeting(
            "alice",
            serde_json::json!({"title": "Fuzzed", "start_now": true}),
        )
        .await;
    let id = meeting["meeting_id"].as_str().unwrap().to_owned();
    let joined = app
        .post(&format!("/api/v1/meetings/{id}/join"), "bob", None)
        .await;
    assert_eq!(joined.status, StatusCode::OK);
    let config = std::env::temp_dir().join(format!("schemathesis-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        format!("[parameters]\nmeeting = \"{id}\"\nuser_id = \"bob\"\n"),
    )
    .unwrap();
    let output = tokio::process::Command::new(&schemathesis)
        .args([
            "--config-file",
            config.to_str().unwrap(),
            "run",
            &format!("{}/api/v1/openapi.json", app.base),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    std::fs::remove_file(&config).ok();
    // Shown with --nocapture, and on failure.
    println!("{report}");
    assert!(
        output.status.success(),
        "Schemathesis found answers outside the document:\n{report}"
    );
}
