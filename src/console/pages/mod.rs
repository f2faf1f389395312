//! The console's pages: a shell every page shares, and one module per page.

pub mod conversation;
pub mod dashboard;
pub mod inbox;
pub mod keys;
pub mod messages;
pub mod render;
pub mod template_form;

use axum::response::Html;
use chasqui_domain::Scope;
use maud::{html, Markup, DOCTYPE};

use super::i18n::Lang;
use super::session::ConsoleUser;

/// The first value of field `name` in a form or query read as pairs ("" when absent).
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// A whole page: head, the navigation a user's scopes allow, and `body`.
pub fn shell(user: Option<&ConsoleUser>, lang: Lang, title: &str, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Chasqui" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { "Chasqui" }
                    @if let Some(u) = user {
                        nav {
                            a href="/console" { (lang.t("nav-inbox")) }
                            " " a href="/console/messages" { (lang.t("nav-messages")) }
                            " " a href="/console/dashboard" { (lang.t("nav-dashboard")) }
                            @if u.may(Scope::Admin) {
                                " " a href="/console/keys" { (lang.t("nav-keys")) }
                            }
                        }
                        @if u.workspaces.is_empty() {
                            span.workspace title=(lang.t("workspace")) { (u.principal.workspace_id.as_str()) }
                        } @else {
                            form.inline.switch method="post" action="/console/workspace" {
                                input type="hidden" name="_csrf" value=(u.csrf);
                                select name="workspace" title=(lang.t("workspace")) {
                                    @for (id, name) in &u.workspaces {
                                        option value=(id.as_str()) selected[*id == u.principal.workspace_id] { (name) }
                                    }
                                }
                                button type="submit" { (lang.t("switch-workspace")) }
                            }
                        }
                        @if u.may(Scope::Admin) && u.principal.workspace_id != u.home {
                            span.badge.warn { (lang.t("viewing-other-workspace")) }
                        }
                        form.inline method="post" action="/console/logout" {
                            input type="hidden" name="_csrf" value=(u.csrf);
                            button type="submit" { (lang.t("logout")) }
                        }
                    }
                    @let other = if lang == Lang::Es { Lang::En } else { Lang::Es };
                    a.lang href={ "/console/lang?to=" (other.code()) } title=(lang.t("switch-language")) {
                        (other.code().to_uppercase())
                    }
                }
                main { (body) }
            }
        }
    };
    Html(page.into_string())
}

/// The login page with its form token, and an error line after a refused attempt.
pub fn login_page(lang: Lang, csrf: &str, error: Option<String>) -> Html<String> {
    let body = html! {
        section.login {
            h1 { (lang.t("login-title")) }
            @if let Some(e) = &error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/console/login" {
                input type="hidden" name="_csrf" value=(csrf);
                label { (lang.t("login-username")) input name="username" autocomplete="username" required; }
                label { (lang.t("login-password")) input name="password" type="password" autocomplete="current-password" required; }
                button type="submit" { (lang.t("login-submit")) }
            }
        }
    };
    shell(None, lang, &lang.t("login-title"), body)
}

/// A page that says what went wrong, in the user's language.
pub fn error_page(lang: Lang, id: &str) -> Html<String> {
    let body = html! {
        section.error-page {
            h1 { (lang.t(id)) }
            p { a href="/console" { (lang.t("back-to-inbox")) } }
        }
    };
    shell(None, lang, &lang.t(id), body)
}
