//! Issue 24, item 5: a reader cannot break or starve the database. Sort terms, predicate leaves
//! and nesting are bounded on every route and spelling (past them, a 400 naming the limit, never
//! a 500 from "too many SQL variables" or "expression tree is too large", nor a misleading 503),
//! and a query that runs past `database.read_timeout_ms` is cancelled: 503 `query_timeout` with
//! Retry-After, and its connection serves the next request.

use base64::Engine;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

both!(
    sort_terms_past_10_are_a_400_in_every_spelling,
    predicate_leaves_past_500_are_a_400_on_every_route,
    predicates_nested_past_8_levels_are_a_400,
    fields_and_facets_past_their_limits_are_a_400,
    by_refs_with_a_filter_answers_many_refs,
    a_query_past_the_read_timeout_is_a_503_and_its_connection_serves_the_next,
);

/// `n` components, each with ten sortable fields `spec.f0` to `spec.f9`.
fn catalog(n: usize) -> String {
    (0..n)
        .map(|i| {
            let fields: String = (0..10).map(|f| format!("  f{f}: v{}\n", (i * 7 + f) % 97)).collect();
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c{i}\n  tags: [t{}]\n\
                 spec:\n  type: service\n  lifecycle: production\n  owner: team-{}\n{fields}",
                i % 13,
                i % 5
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

async fn catalog_app(db: Db, n: usize, read_timeout_ms: Option<u64>) -> TestApp {
    spawn_with_yaml(db, &[("many.yaml", catalog(n))], |s, d| {
        s.reading.file_roots = vec![d.to_path_buf()];
        if let Some(ms) = read_timeout_ms {
            s.database.read_timeout_ms = ms;
            s.database.pool_size = 2;
        }
    })
    .await
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// A 400 `invalid_input` whose message holds `needle`.
fn assert_400(status: u16, body: &Value, what: &str, needle: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_error(body, 400, "InputError", "invalid_input");
    assert!(message(body).contains(needle), "{what}: expected \"{needle}\" in {body}");
}

fn fields(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("spec.f{i}")).collect()
}

fn params(name: &str, values: &[String]) -> String {
    values.iter().map(|v| format!("{name}={}", urlencode(v))).collect::<Vec<_>>().join("&")
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A by-query cursor as a client could forge it.
fn cursor(json: Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

async fn sort_terms_past_10_are_a_400_in_every_spelling(db: Db) {
    let app = catalog_app(db, 12, None).await;
    let asc = |n: usize| fields(n).iter().map(|f| format!("asc:{f}")).collect::<Vec<_>>();
    let order_by = |n: usize| json!(fields(n).iter().map(|f| json!({"field": f, "order": "desc"})).collect::<Vec<_>>());
    // Ten terms are answered, on every route and spelling.
    // (12 components and the generated Location; `spec.f0` sorts "v0" < "v14" < ... < "v77".)
    let (status, body) = app.get_json(&format!("/api/catalog/entities?{}", params("order", &asc(10)))).await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(13)), "{body}");
    assert_eq!(body[0]["metadata"]["name"], "c0", "{body}");
    let (status, body) =
        app.get_json(&format!("/api/catalog/entities/by-query?{}", params("orderField", &fields(10)))).await;
    assert_eq!((status, body["totalItems"].as_u64()), (200, Some(13)), "{body}");
    assert_eq!(body["items"][0]["metadata"]["name"], "c0", "{body}");
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"orderBy": order_by(10)})).await;
    assert_eq!((status, body["totalItems"].as_u64()), (200, Some(13)), "{body}");
    assert_eq!(body["items"][0]["metadata"]["name"], "c11", "{body}");
    // 64 are a 400 naming the limit.
    let want = "at most 10 sort terms per request; got 64";
    let (status, body) = app.get_json(&format!("/api/catalog/entities?{}", params("order", &asc(64)))).await;
    assert_400(status, &body, "GET entities order", want);
    let (status, body) =
        app.get_json(&format!("/api/catalog/entities/by-query?{}", params("orderField", &fields(64)))).await;
    assert_400(status, &body, "GET by-query orderField", want);
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"orderBy": order_by(64)})).await;
    assert_400(status, &body, "POST by-query orderBy", want);
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"orderField": fields(64)})).await;
    assert_400(status, &body, "POST by-query orderField", want);
    // A cursor carries its order: a forged one is held to the same limit, on GET and POST.
    let forged = cursor(json!({"orderFields": order_by(11), "isPrevious": false}));
    let (status, body) = app.get_json(&format!("/api/catalog/entities/by-query?cursor={}", urlencode(&forged))).await;
    assert_400(status, &body, "GET by-query cursor", "at most 10 sort terms per request; got 11");
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"cursor": forged})).await;
    assert_400(status, &body, "POST by-query cursor", "at most 10 sort terms per request; got 11");
}

/// `sets` filter parameters of `conditions` distinct conditions each (`spec.f<j>=v<j>`).
fn filter_sets(sets: usize, conditions: usize) -> String {
    let set: Vec<String> = (0..conditions).map(|j| format!("spec.f{j}=v{j}")).collect();
    (0..sets).map(|_| format!("filter={}", urlencode(&set.join(",")))).collect::<Vec<_>>().join("&")
}

/// `{"$any": [...]}` of `width` objects of `conditions` field conditions each.
fn wide_query(width: usize, conditions: usize) -> Value {
    let object = |i: usize| -> Value {
        Value::Object((0..conditions).map(|j| (format!("spec.f{j}"), json!(format!("v{i}-{j}")))).collect())
    };
    json!({"$any": (0..width).map(object).collect::<Vec<_>>()})
}

async fn predicate_leaves_past_500_are_a_400_on_every_route(db: Db) {
    let app = catalog_app(db, 12, None).await;
    let leaves = "at most 500 predicate leaves";
    // Filters (as long as a URL may be): one set of 1,200 conditions, and 20 sets of 100.
    for route in ["/api/catalog/entities?", "/api/catalog/entities/by-query?", "/api/catalog/entity-facets?facet=kind&"]
    {
        for (sets, conditions) in [(1, 1_200), (20, 100)] {
            let (status, body) = app.get_json(&format!("{route}{}", filter_sets(sets, conditions))).await;
            assert_400(
                status,
                &body,
                route,
                &format!(
                    "{leaves} (conditions and $in or repeated filter values) per request; got {}",
                    sets * conditions
                ),
            );
        }
        let (status, body) = app.get_json(&format!("{route}{}", filter_sets(5, 100))).await;
        assert_eq!(status, 200, "{route} with 500 leaves: {body}");
    }
    for (route, extra) in [
        ("/api/catalog/entity-facets", json!({"facets": ["kind"]})),
        ("/api/catalog/entities/by-refs", json!({"entityRefs": ["component:default/c1"]})),
    ] {
        let (status, body) = app.post_json(&format!("{route}?{}", filter_sets(20, 100)), &extra).await;
        assert_400(
            status,
            &body,
            route,
            &format!("{leaves} (conditions and $in or repeated filter values) per request; got 2000"),
        );
    }
    // Query predicates: 200 objects of 200 conditions, and $in values, on every route taking one.
    let in_values = |n: usize| json!({"spec.f0": {"$in": (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>()}});
    for (route, extra) in [
        ("/api/catalog/entities/by-query", json!({})),
        ("/api/catalog/entity-facets", json!({"facets": ["kind"]})),
        ("/api/catalog/entities/by-refs", json!({"entityRefs": ["component:default/c1"]})),
    ] {
        for (query, n) in [
            (wide_query(200, 200), 40_000),
            (json!({"$all": [in_values(300), in_values(300)]}), 600),
            (json!({"$not": wide_query(3, 200)}), 600),
        ] {
            let mut body = extra.clone();
            body["query"] = query;
            let (status, answer) = app.post_json(route, &body).await;
            assert_400(
                status,
                &answer,
                route,
                &format!("{leaves} (conditions and $in or repeated filter values) per request; got {n}"),
            );
        }
        let mut body = extra.clone();
        body["query"] = json!({"$any": [wide_query(2, 200), in_values(100)]});
        let (status, answer) = app.post_json(route, &body).await;
        assert_eq!(status, 200, "{route} with 500 leaves: {answer}");
    }
    // The filter and the query of one request count together.
    let (status, body) = app
        .post_json(
            &format!("/api/catalog/entities/by-refs?{}", filter_sets(3, 100)),
            &json!({"entityRefs": ["component:default/c1"], "query": in_values(201)}),
        )
        .await;
    assert_400(status, &body, "by-refs filter and query", "got 501");
    let (status, body) = app
        .post_json(
            &format!("/api/catalog/entities/by-refs?{}", filter_sets(3, 100)),
            &json!({"entityRefs": ["component:default/c1"], "query": in_values(200)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // So do a forged cursor's filter and query.
    let any = |n: usize| json!({"$any": (0..n).map(|i| json!({"spec.f1": format!("v{i}")})).collect::<Vec<_>>()});
    let forged = cursor(json!({"filter": any(300), "query": any(300), "orderFields": []}));
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"cursor": forged})).await;
    assert_400(status, &body, "forged cursor", "got 600");
}

/// `levels` nested `$not`s around `inner`.
fn nested_not(levels: usize, inner: Value) -> Value {
    (0..levels).fold(inner, |q, _| json!({ "$not": q }))
}

async fn predicates_nested_past_8_levels_are_a_400(db: Db) {
    let app = catalog_app(db, 12, None).await;
    let by_query = |query: Value| json!({"query": query});
    // Eight levels are answered (an even number of $not: every component matches).
    let (status, body) =
        app.post_json("/api/catalog/entities/by-query", &by_query(nested_not(8, json!({"kind": "component"})))).await;
    assert_eq!((status, body["totalItems"].as_u64()), (200, Some(12)), "{body}");
    let deep = "nested more than 8 levels deep";
    for (what, query) in [
        ("9 levels", nested_not(9, json!({"kind": "component"}))),
        ("8 levels around an implicit $all", nested_not(8, json!({"kind": "component", "spec.type": "service"}))),
        ("60 levels", nested_not(60, json!({"kind": "component"}))),
    ] {
        for (route, mut body) in [
            ("/api/catalog/entities/by-query", json!({})),
            ("/api/catalog/entity-facets", json!({"facets": ["kind"]})),
            ("/api/catalog/entities/by-refs", json!({"entityRefs": ["component:default/c1"]})),
        ] {
            body["query"] = query.clone();
            let (status, answer) = app.post_json(route, &body).await;
            assert_400(status, &answer, &format!("{route} {what}"), deep);
        }
    }
    // 200 levels deep, each 200 wide: refused before it is even parsed.
    let deep_and_wide = (0..200).fold(json!({"kind": "component"}), |q, level| {
        let mut items: Vec<Value> = (0..199).map(|i| json!({"metadata.name": format!("n{level}-{i}")})).collect();
        items.push(q);
        json!({"$any": items})
    });
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &by_query(deep_and_wide)).await;
    assert_400(status, &body, "200 deep and 200 wide", "nested too deeply");
    let (status, body) =
        app.post_json("/api/catalog/entities/by-query", &by_query(nested_not(200, json!({"kind": "x"})))).await;
    assert_400(status, &body, "200 deep", "nested too deeply");
    // A forged cursor's predicate too.
    let forged = cursor(json!({"query": nested_not(9, json!({"kind": "component"}))}));
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"cursor": forged})).await;
    assert_400(status, &body, "forged deep cursor", deep);
}

async fn fields_and_facets_past_their_limits_are_a_400(db: Db) {
    let app = catalog_app(db, 12, None).await;
    let list = |n: usize| fields(n).join(",");
    // `fields` projections and full-text fields: 500 are answered, 501 refused.
    let (status, body) = app.get_json(&format!("/api/catalog/entities/by-query?fields={}", list(500))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json(&format!("/api/catalog/entities/by-query?fields={}", list(501))).await;
    assert_400(status, &body, "GET by-query fields", "at most 500 fields per request; got 501");
    let (status, body) = app.get_json(&format!("/api/catalog/entities?fields={}", list(501))).await;
    assert_400(status, &body, "GET entities fields", "at most 500 fields per request; got 501");
    let (status, body) = app
        .post_json(
            "/api/catalog/entities/by-refs",
            &json!({"entityRefs": ["component:default/c1"], "fields": fields(501)}),
        )
        .await;
    assert_400(status, &body, "by-refs fields", "at most 500 fields per request; got 501");
    // 200,000 repeated fields are one field, read in linear time.
    let repeated = vec!["kind"; 200_000];
    let (status, body) = app.post_json("/api/catalog/entities/by-query", &json!({"fields": repeated})).await;
    assert_eq!((status, body["items"][0].as_object().map(|o| o.len())), (200, Some(1)), "{body}");
    let (status, body) = app
        .get_json(&format!("/api/catalog/entities/by-query?fullTextFilterTerm=v1&fullTextFilterFields={}", list(501)))
        .await;
    assert_400(status, &body, "GET full-text fields", "at most 500 full-text fields per request; got 501");
    let (status, body) = app
        .post_json("/api/catalog/entities/by-query", &json!({"fullTextFilter": {"term": "v1", "fields": fields(501)}}))
        .await;
    assert_400(status, &body, "POST full-text fields", "at most 500 full-text fields per request; got 501");
    // Facets: each is one statement; 100 are answered, 101 refused.
    let facets = |n: usize| fields(n).iter().map(|f| format!("facet={f}")).collect::<Vec<_>>().join("&");
    let (status, body) = app.get_json(&format!("/api/catalog/entity-facets?{}", facets(100))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["facets"]["spec.f0"].as_array().map(Vec::len), Some(12), "{body}");
    let (status, body) = app.get_json(&format!("/api/catalog/entity-facets?{}", facets(101))).await;
    assert_400(status, &body, "GET facets", "at most 100 facets per request; got 101");
    let (status, body) = app.post_json("/api/catalog/entity-facets", &json!({"facets": fields(101)})).await;
    assert_400(status, &body, "POST facets", "at most 100 facets per request; got 101");
}

/// by-refs reads a filter's matches among the refs asked for only, a chunk of refs per statement,
/// however many refs there are.
async fn by_refs_with_a_filter_answers_many_refs(db: Db) {
    let app = catalog_app(db, 30, None).await;
    let mut refs: Vec<String> = (0..30).map(|i| format!("component:default/c{i}")).collect();
    refs.extend((0..9_970).map(|i| format!("component:default/missing-{i}")));
    let (status, body) = app
        .post_json(
            &format!("/api/catalog/entities/by-refs?filter={}", urlencode("spec.owner=team-1")),
            &json!({"entityRefs": refs, "fields": ["metadata.name"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 10_000);
    let found: Vec<&str> = items.iter().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    let want: Vec<String> = (0..30).filter(|i| i % 5 == 1).map(|i| format!("c{i}")).collect();
    assert_eq!(found, want.iter().map(String::as_str).collect::<Vec<_>>());
}

/// With a 1 ms read timeout, a heavy query over a thousand entities is cancelled: 503
/// `query_timeout` naming the limit, with Retry-After. Each time its connection goes back to the
/// (two-connection) pool usable: reads that are not under the timeout keep being answered, and
/// the cancelled query is a 503 again, never a 500 from a connection left mid-transaction.
async fn a_query_past_the_read_timeout_is_a_503_and_its_connection_serves_the_next(db: Db) {
    let app = catalog_app(db, 1_000, Some(1)).await;
    let (status, entity) = app.entity("component", "default", "c1").await;
    assert_eq!(status, 200, "{entity}");
    let uid = entity["metadata"]["uid"].as_str().unwrap().to_owned();
    let heavy = json!({
        "query": {"$any": (0..500).map(|i| json!({format!("spec.f{}", i % 10): {"$hasPrefix": format!("v{}", i % 97)}})).collect::<Vec<_>>()},
        "orderBy": fields(10).iter().map(|f| json!({"field": f, "order": "desc"})).collect::<Vec<_>>(),
        "fullTextFilter": {"term": "v1"},
        "limit": 1000,
    });
    for _ in 0..4 {
        let res = app.client.post(app.url("/api/catalog/entities/by-query")).json(&heavy).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 503);
        let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = res.json().await.unwrap();
        assert_error(&body, 503, "ServiceUnavailableError", "query_timeout");
        assert!(message(&body).contains("read timeout of 1 ms (database.read_timeout_ms)"), "{body}");
        assert_eq!(retry.as_deref(), Some("1"), "{body}");
        for _ in 0..2 {
            let (status, body) = app.get_json(&format!("/api/catalog/entities/by-uid/{uid}")).await;
            assert_eq!((status, body["metadata"]["name"].as_str()), (200, Some("c1")), "{body}");
        }
    }
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
}
