//! The web page (docs/web.md) over HTTP against the binary: every page, the permission rule
//! of every page, sessions, CSRF, escaping of hostile names, and the headers of every page.
//! The same flows in a real browser are in `browser.rs`.

use crate::util::*;

/// A browser without JavaScript: keeps cookies, sends forms.
struct Visitor<'a> {
    srv: &'a TestServer,
    cookies: Vec<(String, String)>,
}

impl<'a> Visitor<'a> {
    fn new(srv: &'a TestServer) -> Visitor<'a> {
        Visitor { srv, cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, resp: &Response) {
        for set in resp.headers_named("set-cookie") {
            let pair = set.split(';').next().unwrap_or("");
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() && !set.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }

    #[track_caller]
    fn get(&mut self, path: &str) -> Response {
        let mut req = Request::get(path);
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        let resp = self.srv.send(req);
        self.keep_cookies(&resp);
        resp
    }

    /// POSTs `fields` as a form, with extra headers.
    #[track_caller]
    fn post_with(&mut self, path: &str, fields: &[(&str, &str)], extra: &[(&str, &str)]) -> Response {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let mut req = Request::new("POST", path)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.as_bytes());
        if !self.cookies.is_empty() {
            req = req.header("Cookie", &self.cookie_header());
        }
        for (k, v) in extra {
            req = req.header(k, v);
        }
        let resp = self.srv.send(req);
        self.keep_cookies(&resp);
        resp
    }

    #[track_caller]
    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.post_with(path, fields, &[])
    }

    /// The `_csrf` value of the first form on the page at `path`.
    #[track_caller]
    fn csrf(&mut self, path: &str) -> String {
        let resp = self.get(path);
        field(&resp.text(), "_csrf").unwrap_or_else(|| panic!("no _csrf on {path}\n{resp}"))
    }

    #[track_caller]
    fn sign_in(&mut self, user: &str, password: &str) {
        let token = self.csrf("/user/login");
        let resp =
            self.post("/user/login", &[("user_name", user), ("password", password), ("_csrf", &token)]);
        resp.expect(303);
        assert!(self.cookies.iter().any(|(k, _)| k == "depot_session"), "no session cookie\n{resp}");
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the first `<input … name="NAME" value="…">` in `html`.
fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

#[track_caller]
fn assert_page_headers(resp: &Response) {
    let csp = resp.header("content-security-policy").unwrap_or_else(|| panic!("no CSP\n{resp}"));
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    eqnice!(Some("nosniff"), resp.header("x-content-type-options"), resp);
    eqnice!(Some("same-origin"), resp.header("referrer-policy"), resp);
    assert!(resp.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{resp}");
}

/// A server with `alice` (a user with two packages), `acme` (a private organization with
/// `reader` and `writer` members and one package), `admin`, and `mallory`, a user in
/// nothing.
fn populated() -> (TestServer, Cred) {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_user("admin", "admin-password", true);
    srv.add_user("reader", "reader-password", false);
    srv.add_user("writer", "writer-password", false);
    srv.add_user("mallory", "mallory-password", false);
    srv.add_org("acme", true);
    srv.add_member("acme", "reader", "read");
    srv.add_member("acme", "writer", "write");
    let alice = Cred::basic("alice", "alice-password");
    srv.upload(&alice, "alice", "tool", "1.0", "tool-linux.tar.gz", b"one").expect(201);
    srv.upload(&alice, "alice", "tool", "2.0", "tool-linux.tar.gz", b"two").expect(201);
    srv.upload(&alice, "alice", "tool", "2.0", "tool-mac.tar.gz", b"two-mac").expect(201);
    srv.upload(&alice, "alice", "other", "0.1", "o.bin", b"o").expect(201);
    let admin = Cred::basic("admin", "admin-password");
    srv.upload(&admin, "acme", "secret-app", "3.0", "app.bin", b"secret").expect(201);
    (srv, admin)
}

#[test]
fn every_page_is_html_with_the_security_headers_and_assets_are_cached_for_long() {
    let (srv, _) = populated();
    let mut v = Visitor::new(&srv);
    for path in [
        "/",
        "/?q=tool&type=generic&sort=name&page=1",
        "/alice/-/packages",
        "/alice/-/packages/generic/tool",
        "/alice/-/packages/generic/tool/2.0",
        "/user/login",
    ] {
        let resp = v.get(path);
        resp.expect(200);
        assert_page_headers(&resp);
    }
    for path in ["/nobody/-/packages", "/alice/-/packages/generic/nope", "/alice/-/packages/generic/tool/9"] {
        let resp = v.get(path);
        resp.expect(404);
        assert_page_headers(&resp);
    }
    v.sign_in("alice", "alice-password");
    for path in ["/user/settings/applications", "/alice/-/packages/generic/tool/2.0/-/delete"] {
        let resp = v.get(path);
        resp.expect(200);
        assert_page_headers(&resp);
    }
    // The stylesheet and script the page links are served, immutable, by content hash.
    let page = v.get("/").text();
    for ext in ["style.css", "copy.js"] {
        let at = page.find(&format!("/{ext}")).unwrap_or_else(|| panic!("no {ext} link\n{page}"));
        let start = page[..at].rfind("\"/assets/").expect("asset link") + 1;
        let resp = v.get(&page[start..at + ext.len() + 1]);
        resp.expect(200);
        eqnice!(Some("public, max-age=31536000, immutable"), resp.header("cache-control"), resp);
    }
    v.get("/assets/0000000000000000/style.css").expect(404);
}

#[test]
fn a_version_page_shows_files_with_size_sha256_time_download_link_and_snippets() {
    let (srv, _) = populated();
    let mut v = Visitor::new(&srv);
    let page = v.get("/alice/-/packages/generic/tool/2.0").text();
    for want in [
        "tool-linux.tar.gz",
        "tool-mac.tar.gz",
        &sha256_hex(b"two-mac"),
        "7 B",
        "href=\"/api/packages/alice/generic/tool/2.0/tool-mac.tar.gz\"",
        &format!("curl --fail -OJ {}/api/packages/alice/generic/tool/2.0/tool-linux.tar.gz", srv.url("")),
    ] {
        assert!(page.contains(want), "{want} missing\n{page}");
    }
    assert!(!page.contains("-/delete"), "an anonymous visitor gets no delete control\n{page}");
    // The package page lists versions newest first and marks the latest.
    let page = v.get("/alice/-/packages/generic/tool").text();
    let (two, one) = (page.find(">2.0<").expect("2.0"), page.find(">1.0<").expect("1.0"));
    assert!(two < one, "newest first\n{page}");
    assert!(page.contains("latest</span>"), "{page}");
}

#[test]
fn explore_searches_across_owners_by_name_and_type_and_pages() {
    let (srv, _) = populated();
    let bob = Cred::token(&srv.token_after_user("bob"));
    srv.upload(&bob, "bob", "toolbox", "1", "t.bin", b"t").expect(201);
    for i in 0..55 {
        srv.upload(&bob, "bob", &format!("many-{i:02}"), "1", "m.bin", b"m").expect(201);
    }
    let mut v = Visitor::new(&srv);
    let page = v.get("/?q=TOOL").text();
    for want in ["href=\"/alice/-/packages/generic/tool\"", "href=\"/bob/-/packages/generic/toolbox\""] {
        assert!(page.contains(want), "{want}\n{page}");
    }
    assert!(!page.contains("many-"), "{page}");
    assert!(page.contains("2 packages"), "{page}");
    let page = v.get("/?type=go").text();
    assert!(page.contains("No packages here yet."), "{page}");
    // 58 readable packages: two pages of 50; the private organization's is not among them.
    let first = v.get("/?sort=name").text();
    assert!(first.contains("58 packages") && first.contains("Page 1 of 2"), "{first}");
    assert!(first.contains("rel=\"next\""), "{first}");
    let second = v.get("/?sort=name&page=2").text();
    assert!(second.contains("Page 2 of 2") && second.contains("toolbox"), "{second}");
    assert!(!first.contains("secret-app") && !second.contains("secret-app"));
}

#[test]
fn pages_follow_the_api_permission_rule_for_every_kind_of_viewer() {
    let (srv, _) = populated();
    let org_pages = [
        "/acme/-/packages",
        "/acme/-/packages/generic/secret-app",
        "/acme/-/packages/generic/secret-app/3.0",
    ];
    // Anonymous and a user outside the private organization: it does not exist, byte for
    // byte like an owner that never did.
    let mut anon = Visitor::new(&srv);
    let mut mallory = Visitor::new(&srv);
    mallory.sign_in("mallory", "mallory-password");
    for v in [&mut anon, &mut mallory] {
        for path in org_pages {
            v.get(path).expect(404);
        }
        assert!(!v.get("/").text().contains("secret-app"));
        let hidden = v.get("/acme/-/packages").text();
        let absent = v.get("/acme2/-/packages").text().replace("acme2", "acme");
        eqnice!(absent, hidden, "a hidden owner reads like an absent one");
    }
    assert!(anon
        .get("/acme/-/packages/generic/secret-app/3.0/-/delete")
        .header("location")
        .is_some_and(|l| l.starts_with("/user/login")));
    mallory.get("/acme/-/packages/generic/secret-app/3.0/-/delete").expect(404);

    // A reader sees everything but no delete control, and may not delete.
    let mut reader = Visitor::new(&srv);
    reader.sign_in("reader", "reader-password");
    for path in org_pages {
        reader.get(path).expect(200);
    }
    assert!(reader.get("/").text().contains("secret-app"));
    assert!(!reader.get(org_pages[2]).text().contains("-/delete"));
    reader.get("/acme/-/packages/generic/secret-app/3.0/-/delete").expect(403);
    let token = reader.csrf("/");
    reader
        .post("/acme/-/packages/generic/secret-app/3.0/-/delete", &[("_csrf", &token), ("file", "app.bin")])
        .expect(403);
    srv.download(&Cred::basic("admin", "admin-password"), "acme", "secret-app", "3.0", "app.bin").expect(200);

    // A writer and an admin get the controls; alice's own page has them for her only.
    for (user, password) in [("writer", "writer-password"), ("admin", "admin-password")] {
        let mut v = Visitor::new(&srv);
        v.sign_in(user, password);
        assert!(v.get(org_pages[2]).text().contains("-/delete?file=app.bin"), "{user}");
        v.get("/acme/-/packages/generic/secret-app/3.0/-/delete?file=app.bin").expect(200);
    }
    assert!(!mallory.get("/alice/-/packages/generic/tool/2.0").text().contains("-/delete"));
    mallory.get("/alice/-/packages/generic/tool/2.0/-/delete").expect(403);
}

#[test]
fn deleting_a_file_then_the_version_goes_through_a_confirmation_and_the_store() {
    let (srv, _) = populated();
    let mut v = Visitor::new(&srv);
    v.sign_in("alice", "alice-password");
    let confirm = v.get("/alice/-/packages/generic/tool/2.0/-/delete?file=tool-mac.tar.gz");
    confirm.expect(200);
    assert!(confirm.text().contains("Delete file tool-mac.tar.gz?"), "{confirm}");
    let token = field(&confirm.text(), "_csrf").expect("csrf");
    let done = v.post(
        "/alice/-/packages/generic/tool/2.0/-/delete",
        &[("_csrf", &token), ("file", "tool-mac.tar.gz")],
    );
    done.expect(303);
    eqnice!(
        Some("/alice/-/packages/generic/tool/2.0?deleted=tool-mac.tar.gz"),
        done.header("location"),
        done
    );
    srv.download(&Cred::Anon, "alice", "tool", "2.0", "tool-mac.tar.gz").expect(404);
    srv.download(&Cred::Anon, "alice", "tool", "2.0", "tool-linux.tar.gz").expect(200);
    // The whole version: the package page is what is left.
    let done = v.post("/alice/-/packages/generic/tool/2.0/-/delete", &[("_csrf", &token)]);
    done.expect(303);
    eqnice!(Some("/alice/-/packages/generic/tool"), done.header("location"), done);
    srv.send(Request::get("/api/v1/packages/alice/generic/tool/2.0")).expect(404);
    // The last version of a package: back to the owner's page.
    let done = v.post("/alice/-/packages/generic/other/0.1/-/delete", &[("_csrf", &token)]);
    eqnice!(Some("/alice/-/packages"), done.header("location"), done);
}

#[test]
fn forms_without_the_token_with_another_sessions_token_or_from_another_origin_change_nothing() {
    let (srv, _) = populated();
    let mut alice = Visitor::new(&srv);
    alice.sign_in("alice", "alice-password");
    let mut other = Visitor::new(&srv);
    other.sign_in("alice", "alice-password");
    let own = alice.csrf("/");
    let others = other.csrf("/");
    assert_ne!(own, others, "each session has its own token");
    let path = "/alice/-/packages/generic/tool/2.0/-/delete";
    let file = ("file", "tool-mac.tar.gz");
    alice.post(path, &[file]).expect(403);
    alice.post(path, &[file, ("_csrf", &others)]).expect(403);
    alice.post(path, &[file, ("_csrf", "")]).expect(403);
    alice.post_with(path, &[file, ("_csrf", &own)], &[("Origin", "https://evil.example")]).expect(403);
    alice
        .post("/user/settings/applications", &[("action", "create"), ("name", "x"), ("_csrf", &others)])
        .expect(403);
    alice.post("/user/logout", &[("_csrf", &others)]).expect(403);
    srv.download(&Cred::Anon, "alice", "tool", "2.0", "tool-mac.tar.gz").expect(200);
    assert!(srv.cli(&["token", "list", "alice"], None).stdout().trim().is_empty(), "no token was made");
    alice.get("/user/settings/applications").expect(200); // still signed in
                                                          // The same origin and the right token do it.
    alice.post_with(path, &[file, ("_csrf", &own)], &[("Origin", &srv.url(""))]).expect(303);
    // Signing in needs the form's own token too (login CSRF).
    let mut fresh = Visitor::new(&srv);
    fresh.post("/user/login", &[("user_name", "alice"), ("password", "alice-password")]).expect(403);
    fresh.get("/user/login");
    fresh
        .post("/user/login", &[("user_name", "alice"), ("password", "alice-password"), ("_csrf", "x")])
        .expect(403);
}

#[test]
fn sessions_end_on_sign_out_password_change_and_user_deletion() {
    let (srv, _) = populated();
    let mut v = Visitor::new(&srv);
    v.sign_in("alice", "alice-password");
    let session = v.cookies.clone();
    assert!(v.get("/").text().contains("Sign out alice"));
    let token = v.csrf("/");
    let out = v.post("/user/logout", &[("_csrf", &token)]);
    out.expect(303);
    assert!(!v.get("/").text().contains("Sign out"));
    // The old cookie, replayed, is no session any more.
    let mut replay = Visitor { srv: &srv, cookies: session };
    eqnice!(303, replay.get("/user/settings/applications").status, "replayed cookie");

    let mut v = Visitor::new(&srv);
    v.sign_in("alice", "alice-password");
    v.get("/user/settings/applications").expect(200);
    srv.cli(&["user", "passwd", "alice", "--password-stdin"], Some("a-new-password\n")).expect_ok();
    eqnice!(303, v.get("/user/settings/applications").status, "after passwd");
    v.sign_in("alice", "a-new-password");

    let mut m = Visitor::new(&srv);
    m.sign_in("mallory", "mallory-password");
    srv.cli(&["user", "delete", "mallory"], None).expect_ok();
    eqnice!(303, m.get("/user/settings/applications").status, "after delete");
    srv.add_user("mallory", "mallory-password", false);
    eqnice!(303, m.get("/user/settings/applications").status, "a new user of the name is not signed in");
}

#[test]
fn sign_in_failures_are_throttled_and_a_wrong_password_says_so() {
    let srv = TestServer::start_with(&["--login-burst", "3", "--login-refill-secs", "600"]);
    srv.add_user("alice", "alice-password", false);
    let mut v = Visitor::new(&srv);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let token = v.csrf("/user/login");
        let resp = v.post("/user/login", &[("user_name", "alice"), ("password", "wrong"), ("_csrf", &token)]);
        statuses.push(resp.status);
        if resp.status == 401 {
            assert!(resp.text().contains("Wrong user name or password."), "{resp}");
        }
    }
    eqnice!(vec![401, 401, 401, 429, 429], statuses, "statuses");
    let token = v.csrf("/user/login");
    let resp =
        v.post("/user/login", &[("user_name", "alice"), ("password", "alice-password"), ("_csrf", &token)]);
    eqnice!(429, resp.status, "the right password waits too, like Basic auth");
}

#[test]
fn hostile_names_are_escaped_on_every_page() {
    let srv = TestServer::start();
    let alice = Cred::token(&srv.token_after_user("alice"));
    let version = "<img src=x onerror=alert(1)>";
    let file = "a&b;x.bin";
    let path = format!("/api/packages/alice/generic/pkg/{}/{}", enc(version), enc(file));
    srv.send(Request::put(&path, b"x").auth(&alice)).expect(201);
    let mut v = Visitor::new(&srv);
    v.sign_in("alice", "alice-password");
    for page in [
        "/".to_string(),
        "/alice/-/packages/generic/pkg".to_string(),
        format!("/alice/-/packages/generic/pkg/{}", enc(version)),
        format!("/alice/-/packages/generic/pkg/{}/-/delete?file={}", enc(version), enc(file)),
        format!("/?q={}", enc("<script>alert(1)</script>")),
    ] {
        let resp = v.get(&page);
        resp.expect(200);
        let html = resp.text();
        assert!(!html.contains("<img src=x"), "{page}\n{html}");
        assert!(!html.contains("<script>alert"), "{page}\n{html}");
        assert!(!html.contains("a&b;x"), "{page}: & is escaped\n{html}");
    }
    let page = v.get("/alice/-/packages/generic/pkg").text();
    assert!(
        page.contains("&#60;img src=x onerror=alert(1)&#62;")
            || page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
}

#[test]
fn the_tokens_page_creates_a_token_shown_once_lists_it_and_revokes_it() {
    let (srv, _) = populated();
    let mut v = Visitor::new(&srv);
    let anon = v.get("/user/settings/applications");
    eqnice!(303, anon.status, anon);
    eqnice!(Some("/user/login?redirect_to=%2Fuser%2Fsettings%2Fapplications"), anon.header("location"), anon);
    v.sign_in("alice", "alice-password");
    let token = v.csrf("/user/settings/applications");
    let made = v.post(
        "/user/settings/applications",
        &[
            ("_csrf", &token),
            ("action", "create"),
            ("name", "ci"),
            ("scope", "write"),
            ("expires_in_days", ""),
        ],
    );
    made.expect(201);
    let html = made.text();
    let start = html.find("depot_").unwrap_or_else(|| panic!("no secret shown\n{html}"));
    let secret: String =
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    srv.upload(&Cred::token(&secret), "alice", "ci-made", "1", "f", b"f").expect(201);
    let list = v.get("/user/settings/applications").text();
    assert!(list.contains(">ci<") && !list.contains(&secret), "listed, secret not shown again\n{list}");
    let dup =
        v.post("/user/settings/applications", &[("_csrf", &token), ("action", "create"), ("name", "ci")]);
    eqnice!(409, dup.status, "{dup}");
    let revoked =
        v.post("/user/settings/applications", &[("_csrf", &token), ("action", "revoke"), ("label", "ci")]);
    revoked.expect(303);
    srv.upload(&Cred::token(&secret), "alice", "ci-made", "2", "f", b"f").expect(401);
    assert!(!v.get("/user/settings/applications").text().contains(">ci<"));
}

#[test]
fn sign_in_returns_to_the_page_it_came_from_but_never_to_another_site() {
    let (srv, _) = populated();
    for (to, expect) in [
        ("/alice/-/packages", "/alice/-/packages"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let mut v = Visitor::new(&srv);
        let token = v.csrf(&format!("/user/login?redirect_to={}", enc(to)));
        let resp = v.post(
            "/user/login",
            &[("user_name", "alice"), ("password", "alice-password"), ("_csrf", &token), ("redirect_to", to)],
        );
        eqnice!(Some(expect), resp.header("location"), resp);
    }
}

#[test]
fn owner_names_that_are_depot_paths_are_refused() {
    let srv = TestServer::start();
    for name in ["api", "User", "assets", "healthz", "metrics"] {
        let out = srv.cli(&["user", "add", name, "--password-stdin"], Some("a-long-password\n"));
        out.expect_failure();
        assert!(out.stderr().contains("is reserved"), "{out}");
        srv.cli(&["org", "add", name], None).expect_failure();
    }
}

/// Over TLS the session and sign-in cookies are `Secure` (never sent over plain HTTP), and
/// the page's links and snippets name `https://`; over plain HTTP they are not marked.
#[test]
fn cookies_are_secure_under_tls_and_snippets_name_https() {
    use crate::tls::{start_tls, Ca, TlsFiles};
    let db = TestDb::new();
    let alice = db.add_user("alice", "alice-password", false);
    let ca = Ca::root("depot web test root");
    let files = TlsFiles::write(db.dir(), &ca.issue());
    let srv = start_tls(db, &files, &[]);
    // Like `tls::https_client`, but showing redirects instead of following them.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build an https client");
    let put = client
        .put(srv.url("/api/packages/alice/generic/tool/1.0/t.bin"))
        .header("Authorization", alice.header().expect("basic"))
        .body("t")
        .send()
        .expect("PUT over TLS");
    eqnice!(201, put.status().as_u16(), "upload");
    let form = client.get(srv.url("/user/login")).send().expect("GET the sign-in page");
    let set = form.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(set.starts_with("depot_login=") && set.contains("; Secure") && set.contains("HttpOnly"), "{set}");
    let token = field(&form.text().expect("page"), "_csrf").expect("form token");
    let login_cookie = set.split(';').next().unwrap_or("").to_string();
    let signed = client
        .post(srv.url("/user/login"))
        .header("Cookie", &login_cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("user_name=alice&password=alice-password&_csrf={token}"))
        .send()
        .expect("POST the sign-in form");
    eqnice!(303, signed.status().as_u16(), "sign-in");
    let cookies: Vec<String> = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let session =
        cookies.iter().find(|c| c.starts_with("depot_session=")).unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(session.contains("; Secure") && session.contains("SameSite=Lax"), "{session}");
    let page = client.get(srv.url("/alice/-/packages/generic/tool/1.0")).send().expect("version page");
    let html = page.text().expect("page");
    assert!(
        html.contains(&format!("curl --fail -OJ {}", srv.url("/api/packages/alice/generic/tool/1.0/t.bin"))),
        "{html}"
    );
    assert!(srv.url("").starts_with("https://"));

    // Plain HTTP: no Secure flag (a browser would drop the cookie on http://).
    let plain = TestServer::start();
    let mut v = Visitor::new(&plain);
    let resp = v.get("/user/login");
    let set = resp.header("set-cookie").unwrap_or("");
    assert!(set.starts_with("depot_login=") && !set.contains("Secure"), "{set}");
}

/// Issue 16: the owner's page has a cleanup rules section for those who may write (list,
/// create, delete, preview), through forms with the session's `_csrf`; nobody else sees it
/// or reaches its pages.
#[test]
fn the_owner_page_has_a_rules_section_for_writers_only() {
    let (srv, _) = populated();
    let rules = "/alice/-/settings/packages/rules";
    let mut alice = Visitor::new(&srv);
    alice.sign_in("alice", "alice-password");
    let page = alice.get("/alice/-/packages");
    page.expect(200);
    assert!(page.text().contains("id=\"rules\"") && page.text().contains("No cleanup rules."), "{page}");
    let token = field(&page.text(), "_csrf").expect("csrf");
    // Without the token, or from another origin: 403, nothing stored.
    alice.post(rules, &[("type", "generic"), ("keep_count", "1")]).expect(403);
    alice
        .post_with(rules, &[("_csrf", &token), ("type", "generic")], &[("Origin", "http://evil.example")])
        .expect(403);
    let api = |who: &Cred| srv.send(Request::get("/api/v1/packages/alice/-/rules").auth(who));
    let owner = Cred::basic("alice", "alice-password");
    api(&owner).expect(200).expect_body(b"[]\n");
    // A bad pattern: 400 with the reason.
    let bad = alice.post(rules, &[("_csrf", &token), ("type", "generic"), ("remove_pattern", "(")]);
    bad.expect(400);
    assert!(bad.text().contains("is not a valid regular expression"), "{bad}");
    let made = alice.post(
        rules,
        &[
            ("_csrf", &token),
            ("type", "generic"),
            ("keep_count", "1"),
            ("remove_pattern", "1.*"),
            ("enabled", "on"),
        ],
    );
    made.expect(303);
    eqnice!(Some("/alice/-/packages#rules"), made.header("location"), made);
    let listed = api(&owner);
    let listed = listed.json();
    let id = listed[0]["id"].as_u64().expect("a rule");
    eqnice!(Some(1), listed[0]["keep_count"].as_u64(), "");
    eqnice!(Some("1.*"), listed[0]["remove_pattern"].as_str(), "");
    eqnice!(Some(true), listed[0]["enabled"].as_bool(), "");
    let page = alice.get("/alice/-/packages");
    let preview_href = format!("{rules}/{id}/preview");
    assert!(page.text().contains(&preview_href), "{page}");
    // The preview page lists what the API's preview does (tool 1.0: not the newest, matches).
    let preview = alice.get(&preview_href);
    preview.expect(200);
    assert_page_headers(&preview);
    assert!(preview.text().contains("Nothing has been removed"), "{preview}");
    assert!(preview.text().contains("/alice/-/packages/generic/tool/1.0"), "{preview}");
    assert!(!preview.text().contains("/alice/-/packages/generic/tool/2.0\""), "{preview}");
    srv.download(&Cred::Anon, "alice", "tool", "1.0", "tool-linux.tar.gz").expect(200);
    // Others: no section, no preview, no changes.
    let mut mallory = Visitor::new(&srv);
    mallory.sign_in("mallory", "mallory-password");
    let page = mallory.get("/alice/-/packages");
    page.expect(200);
    assert!(!page.text().contains("id=\"rules\""), "{page}");
    mallory.get(&preview_href).expect(403);
    let mt = field(&page.text(), "_csrf").expect("csrf of the sign-out form");
    mallory.post(rules, &[("_csrf", &mt), ("type", "go")]).expect(403);
    mallory.post(&format!("{rules}/{id}/delete"), &[("_csrf", &mt)]).expect(403);
    let mut anon = Visitor::new(&srv);
    assert!(!anon.get("/alice/-/packages").text().contains("id=\"rules\""));
    let to_login = anon.get(&preview_href);
    to_login.expect(303);
    assert!(to_login.header("location").is_some_and(|l| l.starts_with("/user/login")), "{to_login}");
    // A private organization: its reader sees the page but not the rules; its writer does.
    let mut reader = Visitor::new(&srv);
    reader.sign_in("reader", "reader-password");
    let page = reader.get("/acme/-/packages");
    page.expect(200);
    assert!(!page.text().contains("id=\"rules\""), "{page}");
    let mut writer = Visitor::new(&srv);
    writer.sign_in("writer", "writer-password");
    assert!(writer.get("/acme/-/packages").text().contains("id=\"rules\""));
    mallory.get("/acme/-/settings/packages/rules/1/preview").expect(404);
    // Delete.
    let gone = alice.post(&format!("{rules}/{id}/delete"), &[("_csrf", &token)]);
    gone.expect(303);
    api(&owner).expect(200).expect_body(b"[]\n");
}
