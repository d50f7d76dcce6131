//! The management API (docs/api.md, Management API): package listings, versions, files,
//! version deletion, admin-only user and organization administration, self-service tokens,
//! `/healthz` and `/metrics`.

use crate::util::*;

/// `items` as a JSON array, or a failure showing the response.
#[track_caller]
fn array(resp: &Response) -> Vec<Json> {
    match resp.json() {
        Json::Arr(items) => items,
        other => panic!("expected a JSON array, got {other:?}\n{resp}"),
    }
}

#[track_caller]
fn names(items: &[Json], key: &str) -> Vec<String> {
    items.iter().map(|v| v[key].as_str().unwrap_or("<missing>").to_owned()).collect()
}

/// The keys of a JSON object, in order.
#[track_caller]
fn keys(v: &Json) -> Vec<&str> {
    match v {
        Json::Obj(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
        other => panic!("expected a JSON object, got {other:?}"),
    }
}

/// Gitea's `User` keys, in its order, with `username` last.
const USER_KEYS: [&str; 22] = [
    "id",
    "login",
    "login_name",
    "source_id",
    "full_name",
    "email",
    "avatar_url",
    "html_url",
    "language",
    "is_admin",
    "created",
    "restricted",
    "active",
    "prohibit_login",
    "location",
    "website",
    "description",
    "visibility",
    "followers_count",
    "following_count",
    "starred_repos_count",
    "username",
];

/// Checks that `p` is Gitea's `Package` (plus depot's `file_count` and `size`) for version
/// `version` of `name`, owned by `owner` and created by `creator` (login, id).
#[track_caller]
fn is_package(
    srv: &TestServer,
    p: &Json,
    owner: &str,
    kind: &str,
    name: &str,
    version: &str,
    creator: (&str, i64),
) {
    eqnice!(
        vec![
            "id",
            "owner",
            "repository",
            "creator",
            "type",
            "name",
            "version",
            "html_url",
            "created_at",
            "file_count",
            "size"
        ],
        keys(p),
        format!("{p:?}")
    );
    assert!(p["id"].as_u64().is_some_and(|id| id > 0), "{p:?}");
    eqnice!(USER_KEYS.to_vec(), keys(&p["owner"]), format!("{p:?}"));
    eqnice!(USER_KEYS.to_vec(), keys(&p["creator"]), format!("{p:?}"));
    eqnice!(Some(owner), p["owner"]["login"].as_str(), format!("{p:?}"));
    eqnice!(Some(owner), p["owner"]["username"].as_str(), format!("{p:?}"));
    assert!(p["owner"]["id"].as_u64().is_some_and(|id| id > 0), "{p:?}");
    for (key, empty) in [("full_name", ""), ("email", ""), ("avatar_url", "")] {
        eqnice!(Some(empty), p["owner"][key].as_str(), format!("{p:?}"));
    }
    let home = format!("http://{}/{owner}", srv.addr());
    eqnice!(Some(home.as_str()), p["owner"]["html_url"].as_str(), format!("{p:?}"));
    eqnice!(&Json::Null, &p["repository"], format!("{p:?}"));
    eqnice!(Some(creator.0), p["creator"]["login"].as_str(), format!("{p:?}"));
    match p["creator"]["id"] {
        Json::Num(id) => eqnice!(creator.1 as f64, id, format!("{p:?}")),
        ref other => panic!("creator id {other:?}"),
    }
    eqnice!(Some(kind), p["type"].as_str(), format!("{p:?}"));
    eqnice!(Some(name), p["name"].as_str(), format!("{p:?}"));
    eqnice!(Some(version), p["version"].as_str(), format!("{p:?}"));
    let url = format!("http://{}/{owner}/-/packages/{kind}/{}/{}", srv.addr(), enc(name), enc(version));
    eqnice!(Some(url.as_str()), p["html_url"].as_str(), format!("{p:?}"));
    assert!(is_rfc3339(p["created_at"].as_str().unwrap_or("")), "created_at {p:?}");
}

/// The `X-Total-Count` and `Link` of a list answer.
#[track_caller]
fn paging(resp: &Response) -> (Option<u64>, Option<&str>) {
    (resp.header("x-total-count").and_then(|v| v.parse().ok()), resp.header("link"))
}

#[test]
fn owner_list_is_gitea_packages_one_per_version_newest_first_filtered_and_paged() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    srv.upload(&alice, "alice", "beta", "1.0", "b.txt", b"b").expect(201);
    srv.upload(&alice, "alice", "alpha", "1.0", "a.txt", b"a").expect(201);
    srv.upload(&alice, "alice", "alpha", "2.0", "a.txt", b"aa").expect(201);
    srv.upload(&alice, "alice", "alpha", "2.0", "b.txt", b"bbb").expect(201);
    srv.upload(&alice, "alice", "gamma-tool", "0.1", "g.txt", b"g").expect(201);

    let resp = srv.send(Request::get("/api/v1/packages/alice"));
    resp.expect(200);
    eqnice!((Some(4), None), paging(&resp), resp);
    let all = array(&resp);
    let listed: Vec<(String, String)> = all
        .iter()
        .map(|p| {
            (p["name"].as_str().unwrap_or("").to_owned(), p["version"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    let expected = [("gamma-tool", "0.1"), ("alpha", "2.0"), ("alpha", "1.0"), ("beta", "1.0")];
    eqnice!(expected.map(|(p, v)| (p.to_owned(), v.to_owned())).to_vec(), listed, resp);
    let alice_id = all[0]["owner"]["id"].as_u64().unwrap_or(0) as i64;
    for (p, (name, version)) in all.iter().zip(expected) {
        is_package(&srv, p, "alice", "generic", name, version, ("alice", alice_id));
    }
    eqnice!(Some(2), all[1]["file_count"].as_u64(), resp);
    eqnice!(Some(5), all[1]["size"].as_u64(), resp);
    let ids: std::collections::BTreeSet<u64> = all.iter().filter_map(|p| p["id"].as_u64()).collect();
    eqnice!(4, ids.len(), resp);
    // The id is the version's, the same in every answer.
    let single = srv.send(Request::get("/api/v1/packages/alice/generic/alpha/2.0"));
    eqnice!(all[1]["id"].as_u64(), single.expect(200).json()["id"].as_u64(), single);

    let generic = srv.send(Request::get("/api/v1/packages/alice?type=generic"));
    eqnice!(4, array(generic.expect(200)).len(), generic);
    let go = srv.send(Request::get("/api/v1/packages/alice?type=go"));
    eqnice!(0, array(go.expect(200)).len(), go);
    eqnice!((Some(0), None), paging(&go), go);
    let q = srv.send(Request::get("/api/v1/packages/alice?q=amm"));
    eqnice!(vec!["gamma-tool"], names(&array(q.expect(200)), "name"), q);
    eqnice!((Some(1), None), paging(&q), q);
    let q = srv.send(Request::get("/api/v1/packages/alice?q=ALP&limit=1&page=2"));
    eqnice!(vec!["1.0"], names(&array(q.expect(200)), "version"), q);
    let link = r#"</api/v1/packages/alice?q=ALP&limit=1&page=1>; rel="first",</api/v1/packages/alice?q=ALP&limit=1&page=1>; rel="prev""#;
    eqnice!((Some(2), Some(link)), paging(&q), q);

    let page = srv.send(Request::get("/api/v1/packages/alice?page=2&limit=1"));
    eqnice!(vec!["alpha"], names(&array(page.expect(200)), "name"), page);
    let link = concat!(
        r#"</api/v1/packages/alice?page=3&limit=1>; rel="next","#,
        r#"</api/v1/packages/alice?page=4&limit=1>; rel="last","#,
        r#"</api/v1/packages/alice?page=1&limit=1>; rel="first","#,
        r#"</api/v1/packages/alice?page=1&limit=1>; rel="prev""#
    );
    eqnice!((Some(4), Some(link)), paging(&page), page);
    let first = srv.send(Request::get("/api/v1/packages/alice?limit=3"));
    eqnice!(3, array(first.expect(200)).len(), first);
    let link = concat!(
        r#"</api/v1/packages/alice?limit=3&page=2>; rel="next","#,
        r#"</api/v1/packages/alice?limit=3&page=2>; rel="last""#
    );
    eqnice!((Some(4), Some(link)), paging(&first), first);
    // Past the end: an empty page, with the total.
    let past = srv.send(Request::get("/api/v1/packages/alice?page=9&limit=1"));
    eqnice!(0, array(past.expect(200)).len(), past);
    eqnice!(Some(4), paging(&past).0, past);
    // Over the largest page size: the largest.
    let big = srv.send(Request::get("/api/v1/packages/alice?limit=100000"));
    eqnice!((4, (Some(4), None)), (array(big.expect(200)).len(), paging(&big)), big);
    for (bad, param) in
        [("page=x", "page"), ("page=-1", "page"), ("limit=ten", "limit"), ("limit=-5", "limit")]
    {
        let r = srv.send(Request::get(&format!("/api/v1/packages/alice?{bad}")));
        r.expect(400);
        assert!(r.text().contains(param) && r.text().trim().lines().count() == 1, "{bad}: {r}");
    }

    srv.send(Request::get("/api/v1/packages/nobody")).expect(404);
}

#[test]
fn versions_latest_one_version_and_its_files_are_gitea_shapes() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let one = content_for("one", 1000);
    let two = content_for("two", 2345);
    srv.upload(&alice, "alice", "app", "1.0", "one.bin", &one).expect(201);
    srv.upload(&alice, "alice", "app", "1.0", "two.bin", &two).expect(201);
    srv.upload(&alice, "alice", "app", "2.0", "one.bin", &one).expect(201);
    let alice_id = {
        let r = srv.send(Request::get("/api/v1/packages/alice"));
        r.expect(200).json()[0]["owner"]["id"].as_u64().unwrap_or(0) as i64
    };

    let resp = srv.send(Request::get("/api/v1/packages/alice/generic/app"));
    resp.expect(200);
    eqnice!((Some(2), None), paging(&resp), resp);
    let versions = array(&resp);
    eqnice!(vec!["2.0", "1.0"], names(&versions, "version"), resp);
    is_package(&srv, &versions[1], "alice", "generic", "app", "1.0", ("alice", alice_id));
    eqnice!(Some(2), versions[1]["file_count"].as_u64(), resp);
    eqnice!(Some(3345), versions[1]["size"].as_u64(), resp);
    let paged = srv.send(Request::get("/api/v1/packages/alice/generic/app?limit=1"));
    eqnice!(vec!["2.0"], names(&array(paged.expect(200)), "version"), paged);
    let link = concat!(
        r#"</api/v1/packages/alice/generic/app?limit=1&page=2>; rel="next","#,
        r#"</api/v1/packages/alice/generic/app?limit=1&page=2>; rel="last""#
    );
    eqnice!((Some(2), Some(link)), paging(&paged), paged);

    let latest = srv.send(Request::get("/api/v1/packages/alice/generic/app/-/latest"));
    let latest_json = latest.expect(200).json();
    is_package(&srv, &latest_json, "alice", "generic", "app", "2.0", ("alice", alice_id));
    eqnice!(Some(1), latest_json["file_count"].as_u64(), latest);
    latest.expect_no_header("x-total-count");

    let single = srv.send(Request::get("/api/v1/packages/alice/generic/APP/1.0"));
    let single_json = single.expect(200).json();
    is_package(&srv, &single_json, "alice", "generic", "app", "1.0", ("alice", alice_id));

    let files_resp = srv.send(Request::get("/api/v1/packages/alice/generic/app/1.0/files"));
    let files = array(files_resp.expect(200));
    eqnice!((Some(2), None), paging(&files_resp), files_resp);
    eqnice!(vec!["one.bin", "two.bin"], names(&files, "name"), files_resp);
    for (file, body) in files.iter().zip([&one, &two]) {
        eqnice!(
            vec!["id", "size", "name", "md5", "sha1", "sha256", "sha512", "created_at"],
            keys(file),
            files_resp
        );
        assert!(file["id"].as_u64().is_some_and(|id| id > 0), "{files_resp}");
        eqnice!(Some(body.len() as u64), file["size"].as_u64(), files_resp);
        let sha = sha256_hex(body);
        eqnice!(Some(sha.as_str()), file["sha256"].as_str(), files_resp);
        for hash in ["md5", "sha1", "sha512"] {
            eqnice!(Some(""), file[hash].as_str(), files_resp);
        }
        assert!(is_rfc3339(file["created_at"].as_str().unwrap_or("")), "created_at\n{files_resp}");
    }
    let second = srv.send(Request::get("/api/v1/packages/alice/generic/app/1.0/files?page=2&limit=1"));
    eqnice!(vec!["two.bin"], names(&array(second.expect(200)), "name"), second);
    eqnice!(files[1]["id"].as_u64(), array(&second)[0]["id"].as_u64(), second);
    let link = concat!(
        r#"</api/v1/packages/alice/generic/app/1.0/files?page=1&limit=1>; rel="first","#,
        r#"</api/v1/packages/alice/generic/app/1.0/files?page=1&limit=1>; rel="prev""#
    );
    eqnice!((Some(2), Some(link)), paging(&second), second);

    for missing in [
        "/api/v1/packages/alice/generic/nope",
        "/api/v1/packages/alice/generic/nope/-/latest",
        "/api/v1/packages/alice/generic/app/9.9",
        "/api/v1/packages/alice/generic/app/9.9/files",
        "/api/v1/packages/nobody/generic/app",
    ] {
        srv.send(Request::get(missing)).expect(404);
    }
}

/// The summaries behind the lists and `-/latest` follow every upload and delete at once.
#[test]
fn summaries_follow_uploads_and_deletes_of_files_and_versions() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let total = |path: &str| {
        let r = srv.send(Request::get(path));
        r.expect(200);
        paging(&r).0
    };
    let version = |v: &str| {
        let r = srv.send(Request::get(&format!("/api/v1/packages/alice/generic/app/{v}")));
        let j = r.expect(200).json();
        (j["file_count"].as_u64(), j["size"].as_u64())
    };
    let latest = || {
        let r = srv.send(Request::get("/api/v1/packages/alice/generic/app/-/latest"));
        r.expect(200).json()["version"].as_str().map(str::to_owned)
    };
    srv.upload(&alice, "alice", "app", "1.0", "a", b"12345").expect(201);
    eqnice!((Some(1), Some(5)), version("1.0"), "after the first upload");
    srv.upload(&alice, "alice", "app", "1.0", "b", b"123").expect(201);
    srv.upload(&alice, "alice", "app", "2.0", "a", b"1").expect(201);
    eqnice!((Some(2), Some(8)), version("1.0"), "two files");
    eqnice!(Some("2.0".to_owned()), latest(), "the newest");
    eqnice!(Some(2), total("/api/v1/packages/alice/generic/app/1.0/files"), "files");
    eqnice!(Some(2), total("/api/v1/packages/alice"), "versions of the owner");

    srv.send(Request::delete(&file_path("alice", "app", "1.0", "b")).auth(&alice)).expect(204);
    eqnice!((Some(1), Some(5)), version("1.0"), "after a file's delete");
    eqnice!(Some(1), total("/api/v1/packages/alice/generic/app/1.0/files"), "files");
    // The last file of the newest version takes the version; latest moves back.
    srv.send(Request::delete(&file_path("alice", "app", "2.0", "a")).auth(&alice)).expect(204);
    srv.send(Request::get("/api/v1/packages/alice/generic/app/2.0")).expect(404);
    eqnice!(Some("1.0".to_owned()), latest(), "after the newest version went");
    eqnice!(Some(1), total("/api/v1/packages/alice/generic/app"), "versions of the package");
    eqnice!(Some(1), total("/api/v1/packages/alice"), "versions of the owner");
    srv.send(Request::delete("/api/v1/packages/alice/generic/app/1.0").auth(&alice)).expect(204);
    eqnice!(Some(0), total("/api/v1/packages/alice"), "nothing left");
    srv.send(Request::get("/api/v1/packages/alice/generic/app/-/latest")).expect(404);
    srv.cli(&["verify"], None).expect_ok();
}

/// An organization's packages are owned by it and created by the member who published;
/// a creator deleted since reads as Gitea's ghost.
#[test]
fn creator_is_the_publishing_user_and_a_deleted_one_is_the_ghost() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_org("acme", false);
    srv.add_member("acme", "alice", "write");
    let alice = Cred::token(&srv.token("alice", "write"));
    srv.upload(&alice, "acme", "tool", "1.0", "t", b"t").expect(201);
    let get = || {
        let r = srv.send(Request::get("/api/v1/packages/acme/generic/tool/1.0"));
        r.expect(200).json()
    };
    let alice_id = get()["creator"]["id"].as_u64().unwrap_or(0) as i64;
    let p = get();
    let acme_id = p["owner"]["id"].as_u64().unwrap_or(0);
    assert!(alice_id > 0 && acme_id > 0 && acme_id != alice_id as u64, "{p:?}");
    is_package(&srv, &p, "acme", "generic", "tool", "1.0", ("alice", alice_id));
    srv.cli(&["org", "member", "remove", "acme", "alice"], None).expect_ok();
    srv.cli(&["user", "delete", "alice"], None).expect_ok();
    is_package(&srv, &get(), "acme", "generic", "tool", "1.0", ("Ghost", -1));
}

/// Every list, `-/latest` and a version of a private owner are 404 to others.
#[test]
fn lists_of_a_private_owner_are_hidden_from_others() {
    let srv = TestServer::start();
    let carol = srv.add_private_user("carol", "carol-password");
    srv.add_user("bob", "bob-password", false);
    let carol_token = Cred::token(&srv.token("carol", "write"));
    srv.upload(&carol_token, "carol", "app", "1.0", "a", b"a").expect(201);
    let bob = Cred::basic("bob", "bob-password");
    for path in [
        "/api/v1/packages/carol",
        "/api/v1/packages/carol/generic/app",
        "/api/v1/packages/carol/generic/app/-/latest",
        "/api/v1/packages/carol/generic/app/1.0",
        "/api/v1/packages/carol/generic/app/1.0/files",
    ] {
        let r = srv.send(Request::get(path).auth(&bob));
        r.expect(404);
        r.expect_no_header("x-total-count");
        srv.send(Request::get(path).auth(&carol)).expect(200);
    }
}

#[test]
fn delete_version_through_the_api_needs_write_access() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_user("bob", "bob-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let bob = Cred::token(&srv.token("bob", "write"));
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"a").expect(201);
    srv.upload(&alice, "alice", "app", "1.0", "b.bin", b"b").expect(201);
    srv.upload(&alice, "alice", "app", "2.0", "a.bin", b"a2").expect(201);
    let target = "/api/v1/packages/alice/generic/app/1.0";

    srv.send(Request::delete(target)).expect_401();
    srv.send(Request::delete(target).auth(&bob)).expect(403);
    srv.send(Request::delete(target).auth(&Cred::token(&srv.token("alice", "read")))).expect(403);
    srv.send(Request::get(target)).expect(200);

    srv.send(Request::delete(target).auth(&alice)).expect(204);
    srv.send(Request::get(target)).expect(404);
    srv.download(&Cred::Anon, "alice", "app", "1.0", "a.bin").expect(404);
    srv.download(&Cred::Anon, "alice", "app", "1.0", "b.bin").expect(404);
    srv.send(Request::delete(target).auth(&alice)).expect(404);
    srv.download(&Cred::Anon, "alice", "app", "2.0", "a.bin").expect(200).expect_body(b"a2");

    srv.send(Request::delete("/api/v1/packages/alice/generic/app/2.0").auth(&alice)).expect(204);
    srv.send(Request::get("/api/v1/packages/alice/generic/app")).expect(404);
}

#[test]
fn admin_user_endpoints_need_an_admin() {
    let srv = TestServer::start();
    let root = srv.add_user("root", "root-password", true);
    let bob = srv.add_user("bob", "bob-password", false);
    let create = r#"{"username":"eve","password":"eve-password","admin":false,"private":true}"#;

    // Not allowed: no credentials -> 401, a non-admin -> 403.
    srv.send(Request::json("POST", "/api/v1/admin/users", create)).expect_401();
    srv.send(Request::json("POST", "/api/v1/admin/users", create).auth(&bob)).expect(403);
    srv.send(Request::get("/api/v1/admin/users")).expect_401();
    srv.send(Request::get("/api/v1/admin/users").auth(&bob)).expect(403);
    srv.send(Request::json("PATCH", "/api/v1/admin/users/root", r#"{"password":"x-password"}"#).auth(&bob))
        .expect(403);
    srv.send(Request::delete("/api/v1/admin/users/root").auth(&bob)).expect(403);
    srv.send(Request::delete("/api/v1/admin/users/root")).expect_401();

    let created = srv.send(Request::json("POST", "/api/v1/admin/users", create).auth(&root));
    let created_json = created.expect(201).json();
    eqnice!(Some("eve"), created_json["username"].as_str(), created);
    eqnice!(Some(false), created_json["admin"].as_bool(), created);
    eqnice!(Some(true), created_json["private"].as_bool(), created);
    srv.send(Request::json("POST", "/api/v1/admin/users", create).auth(&root)).expect(409);
    let shouting = r#"{"username":"EVE","password":"eve-password","admin":false,"private":false}"#;
    srv.send(Request::json("POST", "/api/v1/admin/users", shouting).auth(&root)).expect(409);

    let list = srv.send(Request::get("/api/v1/admin/users").auth(&root));
    let users = array(list.expect(200));
    let mut listed = names(&users, "username");
    listed.sort();
    eqnice!(vec!["bob", "eve", "root"], listed, list);
    let root_entry = users.iter().find(|u| u["username"].as_str() == Some("root")).expect("root listed");
    eqnice!(Some(true), root_entry["admin"].as_bool(), list);

    // The new user exists for authentication and is private.
    let eve = Cred::basic("eve", "eve-password");
    srv.upload(&eve, "eve", "pkg", "1", "f.txt", b"eve's").expect(201);
    srv.download(&Cred::Anon, "eve", "pkg", "1", "f.txt").expect_401();
    srv.download(&eve, "eve", "pkg", "1", "f.txt").expect(200);

    srv.send(
        Request::json("PATCH", "/api/v1/admin/users/bob", r#"{"password":"bob-new-password"}"#).auth(&root),
    )
    .expect(200);
    srv.send(Request::get("/api/v1/packages/bob").auth(&bob)).expect_401();
    srv.send(Request::get("/api/v1/packages/bob").auth(&Cred::basic("bob", "bob-new-password"))).expect(200);

    srv.send(Request::delete("/api/v1/admin/users/bob").auth(&root)).expect(204);
    srv.send(Request::get("/api/v1/packages/bob").auth(&Cred::basic("bob", "bob-new-password"))).expect_401();
    srv.send(Request::delete("/api/v1/admin/users/bob").auth(&root)).expect(404);
    let after = srv.send(Request::get("/api/v1/admin/users").auth(&root));
    let mut remaining = names(&array(after.expect(200)), "username");
    remaining.sort();
    eqnice!(vec!["eve", "root"], remaining, after);
}

#[test]
fn admin_organization_endpoints_need_an_admin() {
    let srv = TestServer::start();
    let root = srv.add_user("root", "root-password", true);
    let bob = srv.add_user("bob", "bob-password", false);
    let bob_token = Cred::token(&srv.token("bob", "write"));
    let create = r#"{"username":"acme","private":true}"#;

    srv.send(Request::json("POST", "/api/v1/orgs", create)).expect_401();
    srv.send(Request::json("POST", "/api/v1/orgs", create).auth(&bob)).expect(403);
    srv.send(Request::json("POST", "/api/v1/orgs", create).auth(&root)).expect(201);
    srv.send(Request::json("POST", "/api/v1/orgs", create).auth(&root)).expect(409);

    let member = "/api/v1/orgs/acme/members/bob";
    srv.send(Request::json("PUT", member, r#"{"role":"write"}"#)).expect_401();
    srv.send(Request::json("PUT", member, r#"{"role":"write"}"#).auth(&bob)).expect(403);
    srv.upload(&bob_token, "acme", "tool", "1", "before.bin", b"x").expect(404);

    srv.send(Request::json("PUT", member, r#"{"role":"write"}"#).auth(&root)).expect(204);
    srv.upload(&bob_token, "acme", "tool", "1", "a.bin", b"org").expect(201);
    srv.download(&Cred::Anon, "acme", "tool", "1", "a.bin").expect_401();

    srv.send(Request::json("PUT", member, r#"{"role":"read"}"#).auth(&root)).expect(204);
    srv.upload(&bob_token, "acme", "tool", "1", "b.bin", b"x").expect(403);
    srv.download(&bob_token, "acme", "tool", "1", "a.bin").expect(200).expect_body(b"org");

    srv.send(Request::delete(member).auth(&bob)).expect(403);
    srv.send(Request::delete(member).auth(&root)).expect(204);
    srv.download(&bob_token, "acme", "tool", "1", "a.bin").expect(404);
}

#[test]
fn users_manage_their_own_tokens_with_their_password() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    let create = r#"{"name":"ci","scope":"write","expires_in_days":30}"#;

    srv.send(Request::json("POST", "/api/v1/users/alice/tokens", create)).expect_401();
    let created = srv.send(Request::json("POST", "/api/v1/users/alice/tokens", create).auth(&alice));
    let json = created.expect(201).json();
    let token = json["token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "no token in\n{created}");
    eqnice!(Some("ci"), json["name"].as_str(), created);
    eqnice!(Some("write"), json["scope"].as_str(), created);
    eqnice!(Some(token.as_str()), json["sha1"].as_str(), created);
    assert!(is_rfc3339(json["created_at"].as_str().unwrap_or("")), "created_at\n{created}");
    assert!(is_rfc3339(json["expires_at"].as_str().unwrap_or("")), "expires_at\n{created}");
    srv.send(Request::json("POST", "/api/v1/users/alice/tokens", create).auth(&alice)).expect(409);

    let reader = srv.send(
        Request::json(
            "POST",
            "/api/v1/users/alice/tokens",
            r#"{"name":"reader","scope":"read","expires_in_days":null}"#,
        )
        .auth(&alice),
    );
    let reader_json = reader.expect(201).json();
    assert!(reader_json["expires_at"].is_null(), "a token without expiry has expires_at null\n{reader}");
    let read_token = reader_json["token"].as_str().unwrap_or_default().to_owned();

    srv.upload(&Cred::token(&token), "alice", "pkg", "1", "f.txt", b"x").expect(201);
    srv.upload(&Cred::token(&read_token), "alice", "pkg", "1", "g.txt", b"x").expect(403);
    srv.download(&Cred::token(&read_token), "alice", "pkg", "1", "f.txt").expect(200);

    let list = srv.send(Request::get("/api/v1/users/alice/tokens").auth(&alice));
    let tokens = array(list.expect(200));
    let mut labels = names(&tokens, "name");
    labels.sort();
    eqnice!(vec!["ci", "reader"], labels, list);
    assert!(
        !list.text().contains(&token) && !list.text().contains(&read_token),
        "listing shows a secret\n{list}"
    );
    let ci = tokens.iter().find(|t| t["name"].as_str() == Some("ci")).expect("ci listed");
    eqnice!(Some("write"), ci["scope"].as_str(), list);
    assert!(is_rfc3339(ci["expires_at"].as_str().unwrap_or("")), "expires_at\n{list}");

    // The CLI sees the same tokens.
    let cli = srv.cli(&["token", "list", "alice"], None);
    cli.expect_ok();
    let mut cli_labels: Vec<String> =
        cli.stdout_lines().iter().map(|l| l.split('\t').next().unwrap_or("").to_owned()).collect();
    cli_labels.sort();
    eqnice!(vec!["ci", "reader"], cli_labels, cli);

    srv.send(Request::delete("/api/v1/users/alice/tokens/ci")).expect_401();
    srv.send(Request::delete("/api/v1/users/alice/tokens/ci").auth(&alice)).expect(204);
    srv.upload(&Cred::token(&token), "alice", "pkg", "1", "h.txt", b"x").expect_401();
    srv.send(Request::delete("/api/v1/users/alice/tokens/ci").auth(&alice)).expect(404);
    let after = srv.send(Request::get("/api/v1/users/alice/tokens").auth(&alice));
    eqnice!(vec!["reader"], names(&array(after.expect(200)), "name"), after);
}

#[test]
fn token_administration_with_a_token_is_refused() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    for cred in
        [Cred::token(&token), Cred::bearer(&token), Cred::basic("alice", &token), Cred::basic(&token, "")]
    {
        let resp = srv.send(
            Request::json(
                "POST",
                "/api/v1/users/alice/tokens",
                r#"{"name":"sneaky","scope":"write","expires_in_days":null}"#,
            )
            .auth(&cred),
        );
        resp.expect_one_of(&[401, 403]);
        // Listing and revoking need the password as well.
        srv.send(Request::get("/api/v1/users/alice/tokens").auth(&cred)).expect_one_of(&[401, 403]);
        let label = srv.cli(&["token", "list", "alice"], None).stdout_lines()[0]
            .split('\t')
            .next()
            .unwrap()
            .to_owned();
        srv.send(Request::delete(&format!("/api/v1/users/alice/tokens/{label}")).auth(&cred))
            .expect_one_of(&[401, 403]);
    }
    let list = srv.cli(&["token", "list", "alice"], None);
    list.expect_ok();
    assert!(!list.stdout().contains("sneaky"), "a token created a token\n{list}");
}

#[test]
fn other_users_cannot_manage_my_tokens_but_an_admin_can() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let bob = srv.add_user("bob", "bob-password", false);
    let root = srv.add_user("root", "root-password", true);
    let (label, _) = srv.token_labeled("alice", "write");
    let create = r#"{"name":"by-other","scope":"write","expires_in_days":null}"#;

    srv.send(Request::json("POST", "/api/v1/users/alice/tokens", create).auth(&bob))
        .expect_one_of(&[403, 404]);
    srv.send(Request::get("/api/v1/users/alice/tokens").auth(&bob)).expect_one_of(&[403, 404]);
    srv.send(Request::delete(&format!("/api/v1/users/alice/tokens/{label}")).auth(&bob))
        .expect_one_of(&[403, 404]);

    let created = srv.send(Request::json("POST", "/api/v1/users/alice/tokens", create).auth(&root));
    let token = created.expect(201).json()["token"].as_str().unwrap_or_default().to_owned();
    srv.upload(&Cred::token(&token), "alice", "pkg", "1", "f.txt", b"x").expect(201);
    srv.send(Request::get("/api/v1/users/alice/tokens").auth(&root)).expect(200);
    srv.send(Request::delete(&format!("/api/v1/users/alice/tokens/{label}")).auth(&root)).expect(204);
}

#[test]
fn healthz_answers_ok() {
    let srv = TestServer::start();
    srv.send(Request::get("/healthz")).expect(200).expect_body(b"ok\n");
}

#[test]
fn metrics_are_prometheus_text_counting_requests() {
    let srv = TestServer::start();
    srv.send(Request::get("/healthz")).expect(200);
    srv.send(Request::get("/api/packages/nobody/generic/p/1/f")).expect(404);
    // A counter may be bumped just after the response went out; re-read a few times.
    let mut last = None;
    for _ in 0..20 {
        let resp = srv.send(Request::get("/metrics"));
        resp.expect(200);
        let content_type = resp.header("Content-Type").unwrap_or("");
        assert!(content_type.starts_with("text/plain"), "Content-Type {content_type:?}\n{resp}");
        let text = resp.text();
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("depot_http_requests_total{") || l.starts_with("depot_http_requests_total ")
            })
            .collect();
        assert!(!samples.is_empty(), "no depot_http_requests_total samples\n{resp}");
        let total: f64 =
            samples.iter().filter_map(|l| l.rsplit(' ').next()).filter_map(|v| v.parse::<f64>().ok()).sum();
        if total >= 2.0 {
            return;
        }
        last = Some(resp);
    }
    panic!("depot_http_requests_total does not count the earlier requests\n{}", last.expect("one response"));
}

/// Issue 12: `/metrics` shows how the writer groups commits, so an operator (and
/// `benches/put_compare.sh`) can see how many uploads share one fsync.
#[test]
fn metrics_count_commits_and_the_writes_they_carry() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    let durable = "depot_store_commits_total{durable=\"true\"}";
    let (commits, jobs) = (srv.metric(durable), srv.metric("depot_store_commit_jobs_total"));
    std::thread::scope(|s| {
        for t in 0..16 {
            let (srv, alice) = (&srv, &alice);
            s.spawn(move || {
                let f = format!("f{t}.bin");
                srv.upload(alice, "alice", "p", "1", &f, &content_for(&f, 4 * KIB)).expect(201);
            });
        }
    });
    // Every 201 was answered after the durable commit that carried it was counted.
    let (commits, jobs) = (srv.metric(durable) - commits, srv.metric("depot_store_commit_jobs_total") - jobs);
    assert!(jobs >= 16, "16 uploads, {jobs} jobs counted");
    assert!((1..=jobs).contains(&commits), "{commits} durable commits for {jobs} jobs");
    let text = srv.send(Request::get("/metrics")).expect(200).text();
    let seconds = text.lines().find_map(|l| l.strip_prefix("depot_store_commit_seconds_total "));
    assert!(seconds.and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0), "{text}");
}

/// Issue 11: the small-file cache filled once and then took nothing new until a write cleared
/// it, so a file that became hot after that was read from the database on every request.
#[test]
fn a_file_that_becomes_hot_after_the_cache_filled_up_is_cached() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    // 200 files of 64 KiB (the largest the cache keeps) are 12.5 MiB, past its 8 MiB. Every
    // upload comes first: a write empties the cache.
    let files: Vec<String> = (0..200).map(|i| format!("f{i}.bin")).chain(["hot.bin".into()]).collect();
    for f in &files {
        srv.upload(&alice, "alice", "p", "1", f, &content_for(f, 64 * KIB)).expect(201);
    }
    // Anonymous downloads (the ones the cache answers) of every other file fill it.
    let (hot, cold) = files.split_last().unwrap();
    for f in cold {
        srv.send(Request::get(&file_path("alice", "p", "1", f)))
            .expect(200)
            .expect_body(&content_for(f, 64 * KIB));
    }
    // Then one file becomes hot: after its first read, the cache answers it.
    let before = srv.metric("depot_cache_file_hits_total");
    for _ in 0..10 {
        srv.send(Request::get(&file_path("alice", "p", "1", hot)))
            .expect(200)
            .expect_body(&content_for(hot, 64 * KIB));
    }
    let hits = srv.metric("depot_cache_file_hits_total") - before;
    assert!(hits >= 9, "only {hits} of 10 downloads of a hot file came from the cache");
}
