//! The HTTP surface: authentication, path routing in the API server's URL scheme, request
//! decoding (JSON/YAML, patch types) and response encoding (JSON, YAML, Table, watch streams).

use crate::auth::{self, Identity};
use crate::clock::{self, now};
use crate::deletion::{self, DeleteOptions};
use crate::discovery;
use crate::escalation;
use crate::limits;
use crate::objects::{self, FieldValidation, PatchKind, Served, WriteContext, Written, at_version};
use crate::protobuf;
use crate::rbac::{self, Attributes};
use crate::resource::ResourceType;
use crate::sandbox::Sandbox;
use crate::scale;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{Key, Store};
use crate::table::{self, Include};
use crate::watch::{self, WatchRequest};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub fn router(sandbox: Sandbox) -> Router {
    Router::new().fallback(handle).with_state(sandbox)
}

async fn handle(
    State(sandbox): State<Sandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // As kube-apiserver's limitedReadBody: a body over the limit is refused before decoding.
    let Ok(body) = axum::body::to_bytes(body, limits::MAX_REQUEST_BODY).await else {
        return limits::body_too_large().into_response();
    };
    let request = Request {
        path: uri.path().to_string(),
        query: form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        method,
        headers,
        body,
    };
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    tracing::debug!(method = %request.method, path = uri.path(), "kubernetes sandbox request");
    match serve(&sandbox, &request, &segments) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// Body formats of create and update (protobuf only for the types `protobuf` knows).
const BODY_TYPES: &str = "application/json, application/yaml";

struct Request {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn wants_table(&self) -> bool {
        let accept = self.header(header::ACCEPT);
        accept
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    }

    /// `as=PartialObjectMetadata` (a get) or `as=PartialObjectMetadataList` (a list): only
    /// the objects' metadata, as kube's `list_metadata` and client-go's metadata client ask.
    fn wants_metadata(&self) -> bool {
        self.header(header::ACCEPT)
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
    }

    fn wants_yaml(&self) -> bool {
        self.header(header::ACCEPT).starts_with("application/yaml")
    }

    /// The request body as JSON, whether sent as JSON or YAML.
    fn object(&self) -> ApiResult<Value> {
        let content_type = self.header(header::CONTENT_TYPE);
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media == "application/vnd.kubernetes.protobuf" {
            return protobuf::decode(&self.body)
                .map_err(|_| ApiError::unsupported_media_type(media, BODY_TYPES));
        }
        if media.ends_with("yaml") {
            let text = std::str::from_utf8(&self.body)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            serde_yaml_ng::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        } else {
            serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            })
        }
    }

    fn context(&self, status: bool) -> ApiResult<WriteContext> {
        let validation = match self.param("fieldValidation") {
            None | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation parameter unsupported: {other}. Supported values are: Ignore, Warn, Strict"
                )));
            }
        };
        let user_agent = self.header(header::USER_AGENT);
        let manager = self
            .param("fieldManager")
            .map(String::from)
            .unwrap_or_else(|| {
                user_agent
                    .split('/')
                    .next()
                    .unwrap_or("unknown")
                    .to_string()
            });
        Ok(WriteContext {
            dry_run: self.param("dryRun") == Some("All"),
            validation,
            manager,
            now: now(),
            status,
        })
    }
}

fn json_response(request: &Request, code: StatusCode, body: &impl serde::Serialize) -> Response {
    let (bytes, content_type) = if request.wants_yaml() {
        (
            serde_yaml_ng::to_string(body)
                .unwrap_or_default()
                .into_bytes(),
            "application/yaml",
        )
    } else {
        (
            serde_json::to_vec(body).unwrap_or_default(),
            "application/json",
        )
    };
    let mut response = (code, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Who the request is: the sandbox's token or no credentials (with anonymous access on) have
/// full access, a ServiceAccount's token is that ServiceAccount; anything else is 401.
fn authenticate(sandbox: &Sandbox, request: &Request) -> ApiResult<Identity> {
    match request.header(header::AUTHORIZATION) {
        "" if sandbox.allows_anonymous() => Ok(Identity::Unrestricted),
        given => match given.strip_prefix("Bearer ") {
            Some(token) if token == sandbox.token() => Ok(Identity::Unrestricted),
            Some(token) => sandbox
                .with_tokens(|store, tokens| {
                    auth::authenticate(store, tokens, token, clock::now_utc())
                })
                .map(Identity::User)
                .ok_or_else(ApiError::unauthorized),
            None => Err(ApiError::unauthorized()),
        },
    }
}

/// Authentication, impersonation, then RBAC for users (the API server's filter chain).
fn admit(sandbox: &Sandbox, request: &Request) -> ApiResult<Identity> {
    let requester = authenticate(sandbox, request)?;
    let identity = sandbox.with_store(|s| auth::impersonate(s, requester, &request.headers))?;
    if let Identity::User(user) = &identity {
        let attributes =
            Attributes::of_request(request.method.as_str(), &request.path, &request.query);
        let decision = sandbox.with_store(|s| rbac::authorize(s, user, &attributes));
        if !decision.allowed {
            return Err(rbac::forbidden(&user.name, &attributes, &decision.reason));
        }
    }
    Ok(identity)
}

fn serve(sandbox: &Sandbox, request: &Request, segments: &[&str]) -> ApiResult<Response> {
    // Like the API server's public-info-viewer role: version and health need no credentials.
    let public = matches!(segments, ["version"] | ["healthz"] | ["livez"] | ["readyz"]);
    let identity = if public {
        Identity::Unrestricted
    } else {
        admit(sandbox, request)?
    };
    let ok = |body: &Value| Ok(json_response(request, StatusCode::OK, body));
    match segments {
        ["version"] => ok(&discovery::version()),
        ["healthz" | "livez" | "readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => ok(&discovery::core_versions()),
        ["apis"] => ok(&sandbox.with_store(|s| discovery::group_list(s.types()))),
        ["apis", group] => sandbox
            .with_store(|s| discovery::group(s.types(), group))
            .map_or_else(|| Err(ApiError::no_route()), |doc| ok(&doc)),
        ["openapi", "v2"] => Ok(openapi_v2(request)),
        ["openapi", "v3"] => {
            ok(&sandbox.with_store(|s| discovery::openapi_root(s.types(), s.revision())))
        }
        ["openapi", "v3", "api", version] => openapi(sandbox, request, "", version),
        ["openapi", "v3", "apis", group, version] => openapi(sandbox, request, group, version),
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            kind @ ("selfsubjectaccessreviews" | "selfsubjectrulesreviews"),
        ] => review(sandbox, request, &identity, kind),
        ["api", version, rest @ ..] => resource(sandbox, request, &identity, "", version, rest),
        ["apis", group, version, rest @ ..] => {
            resource(sandbox, request, &identity, group, version, rest)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// An OpenAPI v2 document without definitions: the types live in v3, but kubectl falls back to
/// v2 for a kind v3 does not know, and must get a document (then "no matches for kind").
fn openapi_v2(request: &Request) -> Response {
    if request
        .header(header::ACCEPT)
        .starts_with("application/com.github.proto-openapi.spec.v2")
    {
        // The empty message is a valid protobuf document.
        let mut response = (StatusCode::OK, Vec::new()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        );
        return response;
    }
    let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {}, "definitions": {}});
    json_response(request, StatusCode::OK, &doc)
}

fn openapi(
    sandbox: &Sandbox,
    request: &Request,
    group: &str,
    version: &str,
) -> ApiResult<Response> {
    let doc = sandbox
        .with_store(|s| discovery::openapi_group_version(s.types(), group, version))
        .ok_or_else(ApiError::no_route)?;
    Ok(json_response(request, StatusCode::OK, &doc))
}

/// A parsed resource path: `[watch/][namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`.
struct Target<'a> {
    watch: bool,
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn parse_target<'a>(mut rest: &'a [&'a str]) -> Option<Target<'a>> {
    let watch = rest.first() == Some(&"watch");
    if watch {
        rest = &rest[1..];
    }
    let mut namespace = None;
    // `namespaces/<name>/status` is the namespace's own subresource, not a type in it.
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        namespace = Some(rest[1]);
        rest = &rest[2..];
    }
    match rest {
        [plural] => Some(Target {
            watch,
            namespace,
            plural,
            name: None,
            subresource: None,
        }),
        [plural, name] => Some(Target {
            watch,
            namespace,
            plural,
            name: Some(name),
            subresource: None,
        }),
        [plural, name, sub] => Some(Target {
            watch,
            namespace,
            plural,
            name: Some(name),
            subresource: Some(sub),
        }),
        _ => None,
    }
}

fn resource(
    sandbox: &Sandbox,
    request: &Request,
    identity: &Identity,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Response> {
    if rest.is_empty() {
        let list = sandbox
            .with_store(|s| discovery::resource_list(s.types(), group, version))
            .ok_or_else(ApiError::no_route)?;
        return Ok(json_response(request, StatusCode::OK, &list));
    }
    let target = parse_target(rest).ok_or_else(ApiError::no_route)?;
    let rt = sandbox
        .with_store(|s| s.find_type(group, version, target.plural))
        .ok_or_else(ApiError::no_route)?;
    if !rt.namespaced && target.namespace.is_some() {
        return Err(ApiError::no_route());
    }
    let status = match target.subresource {
        None => false,
        Some("token") if rt.group.is_empty() && rt.plural == "serviceaccounts" => {
            let (namespace, name) = (
                target.namespace.unwrap_or_default(),
                target.name.unwrap_or_default(),
            );
            return token(sandbox, request, namespace, name);
        }
        Some("status") if rt.status_subresource => true,
        Some("scale") if rt.group == "apps" && rt.plural == "deployments" => {
            let (namespace, name) = (
                target.namespace.unwrap_or_default(),
                target.name.unwrap_or_default(),
            );
            return scale(sandbox, request, &rt, namespace, name);
        }
        Some(_) => return Err(ApiError::no_route()),
    };
    let namespace = target.namespace.unwrap_or_default();
    let watching = target.watch || request.flag("watch");
    match (&request.method, target.name) {
        (&Method::GET, _) if watching => watch(sandbox, request, &rt, &target),
        (&Method::GET, None) => list(sandbox, request, &rt, target.namespace),
        (&Method::GET, Some(name)) => {
            if rt.namespaced && target.namespace.is_none() {
                return Err(ApiError::no_route());
            }
            let obj = sandbox
                .with_store(|s| {
                    s.get(&crate::store::Key::new(&rt, namespace, name))
                        .cloned()
                })
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            respond_object(request, &rt, StatusCode::OK, at_version(&rt, obj))
        }
        (&Method::POST, None) => {
            if rt.namespaced && target.namespace.is_none() {
                return Err(ApiError::method_not_allowed(
                    "POST on a namespaced type needs a namespace in the path",
                ));
            }
            let body = request.object()?;
            let ctx = request.context(false)?;
            let written = write_checked(sandbox, identity, &rt, namespace, "", &ctx, |s, ctx| {
                objects::create(s, &rt, namespace, body.clone(), ctx)
            })?;
            respond_written(request, &rt, written)
        }
        (&Method::PUT, Some(name)) => {
            let body = request.object()?;
            let ctx = request.context(status)?;
            let written =
                write_checked(sandbox, identity, &rt, namespace, name, &ctx, |s, ctx| {
                    objects::update(s, &rt, namespace, name, body.clone(), ctx)
                })?;
            respond_written(request, &rt, written)
        }
        (&Method::PATCH, Some(name)) => {
            patch(sandbox, request, identity, &rt, namespace, name, status)
        }
        (&Method::DELETE, Some(name)) => {
            let options = delete_options(request)?;
            let deleted =
                sandbox.with_store_mut(|s| deletion::delete(s, &rt, namespace, name, &options))?;
            let code = StatusCode::from_u16(deleted.code).unwrap_or(StatusCode::OK);
            let body = deleted.body(&rt);
            if body["kind"] == "Status" {
                return Ok(json_response(request, code, &body));
            }
            respond_object(request, &rt, code, body)
        }
        (&Method::DELETE, None) => {
            let options = delete_options(request)?;
            let labels = label_selector(request)?;
            let fields = field_selector(request)?;
            let deleted = sandbox.with_store_mut(|s| {
                let names: Vec<(String, String)> = s
                    .list(rt.storage_group(), &rt.plural, target.namespace)
                    .into_iter()
                    .filter(|(_, o)| {
                        labels.matches(o["metadata"].get("labels")) && fields.matches(o)
                    })
                    .map(|(k, _)| (k.namespace.clone(), k.name.clone()))
                    .collect();
                names
                    .iter()
                    .map(|(ns, name)| {
                        deletion::delete(s, &rt, ns, name, &options)
                            .map(|d| at_version(&rt, d.object))
                    })
                    .collect::<ApiResult<Vec<Value>>>()
            })?;
            let revision = sandbox.with_store(|s| s.revision());
            let list = list_json(
                &rt,
                deleted,
                json!({"resourceVersion": revision.to_string()}),
            );
            Ok(json_response(request, StatusCode::OK, &list))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method
        ))),
    }
}

fn label_selector(request: &Request) -> ApiResult<LabelSelector> {
    LabelSelector::parse(request.param("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
}

fn field_selector(request: &Request) -> ApiResult<FieldSelector> {
    FieldSelector::parse(request.param("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)
}

fn delete_options(request: &Request) -> ApiResult<DeleteOptions> {
    let body = if request.body.is_empty() {
        None
    } else {
        Some(request.object()?)
    };
    DeleteOptions::parse(
        body.as_ref(),
        |name| request.param(name).map(String::from),
        now(),
    )
}

/// `POST .../serviceaccounts/<name>/token`: a TokenRequest.
fn token(sandbox: &Sandbox, request: &Request, namespace: &str, name: &str) -> ApiResult<Response> {
    if request.method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method
        )));
    }
    let body = request.object()?;
    let answer = sandbox
        .with_tokens(|store, tokens| auth::token_request(store, tokens, namespace, name, body))?;
    Ok(json_response(request, StatusCode::CREATED, &answer))
}

/// `POST` of a SelfSubjectAccessReview or SelfSubjectRulesReview: the requester's (or the
/// impersonated identity's) permissions, answered in `status`.
fn review(
    sandbox: &Sandbox,
    request: &Request,
    identity: &Identity,
    plural: &str,
) -> ApiResult<Response> {
    if request.method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method
        )));
    }
    let mut body = request.object()?;
    let status = if plural == "selfsubjectaccessreviews" {
        let attributes = rbac::review_attributes(&body["spec"])?;
        sandbox.with_store(|s| rbac::access_review_status(s, identity.user(), &attributes))
    } else {
        let namespace = body["spec"]["namespace"].as_str().unwrap_or_default();
        if namespace.is_empty() {
            return Err(ApiError::bad_request("no namespace on request"));
        }
        sandbox.with_store(|s| rbac::rules_review_status(s, identity.user(), namespace))
    };
    body["apiVersion"] = json!("authorization.k8s.io/v1");
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    body["status"] = status;
    Ok(json_response(request, StatusCode::CREATED, &body))
}

/// `/scale` of a deployment: reads and writes go through `spec.replicas`.
fn scale(
    sandbox: &Sandbox,
    request: &Request,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
) -> ApiResult<Response> {
    let current = sandbox
        .with_store(|s| s.get(&crate::store::Key::new(rt, namespace, name)).cloned())
        .ok_or_else(|| ApiError::not_found(&rt.group, "deployments", name))?;
    let wanted = match request.method {
        Method::GET => {
            return Ok(json_response(
                request,
                StatusCode::OK,
                &scale::to_scale(&current),
            ));
        }
        Method::PUT => request.object()?,
        Method::PATCH => {
            let mut doc = scale::to_scale(&current);
            let body = request.object()?;
            match request
                .header(header::CONTENT_TYPE)
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
            {
                "application/json-patch+json" => {
                    crate::patch::json_patch(&mut doc, &body).map_err(ApiError::bad_request)?
                }
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    crate::patch::merge_patch(&mut doc, &body)
                }
                other => {
                    return Err(ApiError::unsupported_media_type(
                        other,
                        objects::PATCH_TYPES,
                    ));
                }
            }
            doc
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "the scale subresource takes GET, PUT and PATCH",
            ));
        }
    };
    let change = scale::deployment_patch(&wanted).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("Scale.autoscaling \"{name}\" is invalid: {e}"),
        )
    })?;
    let ctx = request.context(false)?;
    let written = sandbox.with_store_mut(|s| {
        objects::patch(s, rt, namespace, name, PatchKind::Merge, &change, &ctx)
    })?;
    Ok(json_response(
        request,
        StatusCode::OK,
        &scale::to_scale(&written.object),
    ))
}

fn patch(
    sandbox: &Sandbox,
    request: &Request,
    identity: &Identity,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
    status: bool,
) -> ApiResult<Response> {
    let content_type = request.header(header::CONTENT_TYPE);
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let kind = match media {
        "application/merge-patch+json" => PatchKind::Merge,
        "application/json-patch+json" => PatchKind::Json,
        "application/strategic-merge-patch+json" => PatchKind::Strategic,
        "application/apply-patch+yaml" => {
            if request.param("fieldManager").is_none() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PATCH /: is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            PatchKind::Apply {
                force: request.flag("force"),
            }
        }
        other => {
            let accepted = if rt.custom {
                objects::PATCH_TYPES.to_string()
            } else {
                format!(
                    "{}, application/strategic-merge-patch+json",
                    objects::PATCH_TYPES
                )
            };
            return Err(ApiError::unsupported_media_type(other, &accepted));
        }
    };
    let body = request.object()?;
    let ctx = request.context(status)?;
    let written = write_checked(sandbox, identity, rt, namespace, name, &ctx, |s, ctx| {
        objects::patch(s, rt, namespace, name, kind, &body, ctx)
    })?;
    respond_written(request, rt, written)
}

/// A write, refused first (as the API server's RBAC storage does) if it is a Role, ClusterRole
/// or binding granting a user's request permissions the user does not hold: the write runs
/// once as a dry run, to check what it would store.
fn write_checked(
    sandbox: &Sandbox,
    identity: &Identity,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    ctx: &WriteContext,
    write: impl Fn(&mut Store, &WriteContext) -> ApiResult<Written>,
) -> ApiResult<Written> {
    sandbox.with_store_mut(|store| {
        if let Some(user) = identity.user()
            && escalation::guarded(&rt.group, &rt.plural)
        {
            let old = store.get(&Key::new(rt, namespace, name)).cloned();
            let preview = write(
                store,
                &WriteContext {
                    dry_run: true,
                    ..ctx.clone()
                },
            )?;
            escalation::check(
                store,
                user,
                &rt.plural,
                namespace,
                name,
                &preview.object,
                old.as_ref(),
            )?;
        }
        write(store, ctx)
    })
}

fn respond_written(request: &Request, rt: &ResourceType, written: Written) -> ApiResult<Response> {
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = respond_object(request, rt, code, at_version(rt, written.object))?;
    for warning in written.warnings {
        let text = format!(
            "299 - {}",
            serde_json::to_string(&warning).unwrap_or_default()
        );
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", value);
        }
    }
    Ok(response)
}

fn respond_object(
    request: &Request,
    rt: &ResourceType,
    code: StatusCode,
    obj: Value,
) -> ApiResult<Response> {
    if request.wants_metadata() {
        return Ok(json_response(request, code, &partial(&obj)));
    }
    if request.wants_table() {
        let include = Include::parse(request.param("includeObject"));
        let meta = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
        return Ok(json_response(
            request,
            code,
            &table::table(rt, &[obj], include, meta),
        ));
    }
    Ok(json_response(request, code, &obj))
}

/// An object as `PartialObjectMetadata`: its metadata alone.
fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    })
}

fn list_json(rt: &ResourceType, items: Vec<Value>, meta: Value) -> Value {
    json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": meta,
        "items": items,
    })
}

/// `continue` tokens name the last key served (opaque to clients, as in the API server).
fn encode_continue(namespace: &str, name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!([namespace, name])).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| ApiError::bad_request("continue key is not valid: illegal base64 data"))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("continue key is not valid"))
}

fn list(
    sandbox: &Sandbox,
    request: &Request,
    rt: &Arc<ResourceType>,
    namespace: Option<&str>,
) -> ApiResult<Response> {
    let labels = label_selector(request)?;
    let fields = field_selector(request)?;
    let limit = request
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let after = request.param("continue").map(decode_continue).transpose()?;
    // Only the selection is made under the store lock; objects are shared with the store and
    // written out after it, without copies where serving them only sets the apiVersion.
    let (mut items, revision) = sandbox.with_store(|s| {
        let items: Vec<(String, String, Arc<Value>)> = s
            .list_shared(rt.storage_group(), &rt.plural, namespace)
            .into_iter()
            .filter(|(k, _)| {
                after
                    .as_ref()
                    .is_none_or(|(ns, name)| (&k.namespace, &k.name) > (ns, name))
            })
            .filter(|(_, o)| labels.matches(o["metadata"].get("labels")) && fields.matches(o))
            .map(|(k, o)| (k.namespace.clone(), k.name.clone(), o.clone()))
            .collect();
        (items, s.revision())
    });
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if let Some(limit) = limit
        && items.len() > limit
    {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let (ns, name, _) = items.last().expect("limit is positive");
        meta["continue"] = json!(encode_continue(ns, name));
        meta["remainingItemCount"] = json!(remaining);
    }
    if request.wants_metadata() {
        let items: Vec<Value> = items.iter().map(|(_, _, o)| partial(o)).collect();
        let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                          "metadata": meta, "items": items});
        return Ok(json_response(request, StatusCode::OK, &list));
    }
    let version = rt.api_version();
    let served: Option<Vec<Served>> = items
        .iter()
        .map(|(_, _, o)| Served::of(rt, &version, o))
        .collect();
    if let Some(items) = served.filter(|_| !request.wants_table()) {
        let list =
            json!({"kind": format!("{}List", rt.kind), "apiVersion": version, "metadata": meta});
        return Ok(json_response(
            request,
            StatusCode::OK,
            &ServedList { list, items },
        ));
    }
    let objects: Vec<Value> = items
        .into_iter()
        .map(|(_, _, o)| at_version(rt, (*o).clone()))
        .collect();
    if request.wants_table() {
        let include = Include::parse(request.param("includeObject"));
        return Ok(json_response(
            request,
            StatusCode::OK,
            &table::table(rt, &objects, include, meta),
        ));
    }
    Ok(json_response(
        request,
        StatusCode::OK,
        &list_json(rt, objects, meta),
    ))
}

/// [`list_json`] of objects written out as served, without copies: `list` is the list
/// without its `items`.
#[derive(serde::Serialize)]
struct ServedList<'a> {
    #[serde(flatten)]
    list: Value,
    items: Vec<Served<'a>>,
}

fn watch(
    sandbox: &Sandbox,
    request: &Request,
    rt: &Arc<ResourceType>,
    target: &Target,
) -> ApiResult<Response> {
    let mut fields = field_selector(request)?;
    if let Some(name) = target.name {
        // The legacy `/watch/.../<name>` path watches one object.
        fields = FieldSelector::from_name(name);
    }
    let watch_request = WatchRequest {
        rt: rt.clone(),
        namespace: target.namespace.map(String::from),
        labels: label_selector(request)?,
        fields,
        resource_version: request.param("resourceVersion").map(String::from),
        send_initial_events: request.flag("sendInitialEvents"),
        bookmarks: request.flag("allowWatchBookmarks"),
        timeout: request
            .param("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs),
        table: request
            .wants_table()
            .then(|| Include::parse(request.param("includeObject"))),
    };
    let body: Body = sandbox.with_store(|s| watch::start(s, watch_request));
    let mut response = (StatusCode::OK, body).into_response();
    let content_type = if request.wants_table() {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}
