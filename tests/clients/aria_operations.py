"""Drives every operation of VMware's Aria Operations /api/auth OpenAPI
document against roster once, with a valid request, and validates each
JSON response against the document's own schema (the `user` schema's
`password` requirement relaxed: roster never returns passwords).
Operations roster deliberately does not support (LDAP/AD/SSO sources,
deprecated traversal specs, token exchange) must answer with Aria's error
envelope. Usage: aria_operations.py SPEC BASE_URL API_KEY"""

import json
import sys
import urllib.error
import urllib.request

import jsonschema

spec_path, base, key = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(spec_path))
user = spec["components"]["schemas"]["user"]
user["required"] = [r for r in user.get("required", []) if r != "password"]
resolver = jsonschema.RefResolver.from_schema(spec)
seen = set()


def call(method, template, path=None, body=None, auth=f"Bearer {key}", expect=None):
    path = path or template
    req = urllib.request.Request(base + "/suite-api" + path, method=method)
    req.add_header("Accept", "application/json")
    if auth:
        req.add_header("Authorization", auth)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    payload = json.loads(raw) if raw else None
    op = spec["paths"][template.split("?")[0]][method.lower()]
    seen.add((method, template.split("?")[0]))
    if expect is not None:
        assert status == expect, f"{method} {path}: {status} {payload}"
    if status >= 400:
        assert payload and "message" in payload and payload.get("httpStatusCode") == status, \
            f"{method} {path}: not Aria's error envelope: {payload}"
        print(f"ok  {status} {method} {template} (error envelope)")
        return status, payload
    documented = op["responses"].get(str(status))
    assert documented, f"{method} {path}: undocumented status {status}"
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        jsonschema.validate(payload, schema, resolver=resolver)
    print(f"ok  {status} {method} {template}")
    return status, payload


A = "/api/auth"
# Tokens.
_, tok = call("POST", f"{A}/token/acquire", body={"username": "admin", "password": sys.argv[4], "authSource": "LOCAL"}, auth=None, expect=200)
token = tok["token"]
call("GET", f"{A}/currentuser", auth=f"vRealizeOpsToken {token}", expect=200)
call("GET", f"{A}/currentuser/permissions", auth=f"OpsToken {token}", expect=200)
call("GET", f"{A}/currentuser/roles/{{roleName}}/privileges", f"{A}/currentuser/roles/Administrator/privileges", expect=200)
call("POST", f"{A}/token/exchange", body={"serviceKeys": ["ops-li"]}, expect=400)

# Privileges and roles.
call("GET", f"{A}/privileges", expect=200)
call("GET", f"{A}/privilegegroups", expect=200)
call("GET", f"{A}/roles", expect=200)
call("POST", f"{A}/roles", body={"name": "API Administrator", "description": "api", "privilege-keys": ["users.read"], "system-created": False}, expect=201)
call("PUT", f"{A}/roles", body={"name": "API Administrator", "description": "changed", "privilege-keys": ["users.read"]}, expect=200)
call("GET", f"{A}/roles/{{roleName}}", f"{A}/roles/API%20Administrator", expect=200)
call("GET", f"{A}/roles/{{roleName}}/privileges", f"{A}/roles/API%20Administrator/privileges", expect=200)
call("POST", f"{A}/roles/{{roleName}}/privileges", f"{A}/roles/API%20Administrator/privileges", body={"privilege-key": ["users.write"]}, expect=200)
call("PUT", f"{A}/roles/{{roleName}}/privileges", f"{A}/roles/API%20Administrator/privileges", body={"privilege-key": ["users.read", "groups.read"]}, expect=200)
call("DELETE", f"{A}/roles/{{roleName}}/privileges", f"{A}/roles/API%20Administrator/privileges", body={"privilege-key": ["groups.read"]}, expect=200)

# Scopes.
_, scope = call("POST", f"{A}/scopes", body={"name": "Production"}, expect=201)
sid = scope["id"]
call("PUT", f"{A}/scopes", body={"id": sid, "name": "Production 2"}, expect=200)
call("GET", f"{A}/scopes", expect=200)
call("GET", f"{A}/scopes/{{scopeId}}", f"{A}/scopes/{sid}", expect=200)
call("GET", f"{A}/traversalspecs", expect=200)

# Users (the seed request first).
_, u = call("POST", f"{A}/users", body={"username": "test", "firstName": "test", "lastName": "test", "password": "Test@123",
                                        "enabled": True, "role-permissions": [{"roleName": "PowerUser", "allowAllObjects": True}],
                                        "lastLoginTime": 0}, expect=201)
uid = u["id"]
assert "password" not in u
call("GET", f"{A}/users", f"{A}/users?username=test&_no_links=true", expect=200)
call("GET", f"{A}/users/{{id}}", f"{A}/users/{uid}", expect=200)
call("PUT", f"{A}/users", body={"id": uid, "username": "test", "firstName": "Tess"}, expect=200)
call("GET", f"{A}/users/{{userId}}/permissions", f"{A}/users/{uid}/permissions", expect=200)
call("PUT", f"{A}/users/{{userId}}/permissions", f"{A}/users/{uid}/permissions", body={"roleName": "ReadOnly", "scopeId": sid, "allowAllObjects": False}, expect=200)
call("DELETE", f"{A}/users/{{userId}}/permissions/{{roleName}}", f"{A}/users/{uid}/permissions/ReadOnly", expect=204)
call("PUT", f"{A}/users/{{userId}}/traversalspecs", f"{A}/users/{uid}/traversalspecs",
     body={"adapterKind": "VMWARE", "name": "vSphere Hosts and Clusters", "selectAllResources": True}, expect=200)
_, t2 = call("POST", f"{A}/token/acquire", body={"username": "test", "password": "Test@123"}, auth=None, expect=200)
call("PUT", f"{A}/users/passwordchange", body={"currentPassword": "Test@123", "newPassword": "Test@1234-changed"}, auth=f"OpsToken {t2['token']}", expect=204)
# A password change ends every session of the user, this one included.
call("GET", f"{A}/currentuser", auth=f"OpsToken {t2['token']}", expect=401)
_, t2 = call("POST", f"{A}/token/acquire", body={"username": "test", "password": "Test@1234-changed"}, auth=None, expect=200)
call("POST", f"{A}/token/release", auth=f"OpsToken {t2['token']}", expect=200)

# User groups.
_, g = call("POST", f"{A}/usergroups", body={"name": "ops-admins", "description": "admins", "userIds": [uid],
                                             "role-permissions": [{"roleName": "ReadOnly", "allowAllObjects": True}]}, expect=201)
gid = g["id"]
call("PUT", f"{A}/usergroups", body={"id": gid, "name": "ops-admins", "description": "the admins", "userIds": [uid]}, expect=200)
call("GET", f"{A}/usergroups", f"{A}/usergroups?name=ops", expect=200)
call("GET", f"{A}/usergroups/{{id}}", f"{A}/usergroups/{gid}", expect=200)
call("GET", f"{A}/usergroups/{{groupId}}/permissions", f"{A}/usergroups/{gid}/permissions", expect=200)
call("PUT", f"{A}/usergroups/{{groupId}}/permissions", f"{A}/usergroups/{gid}/permissions", body={"roleName": "PowerUser", "allowAllObjects": True}, expect=200)
call("DELETE", f"{A}/usergroups/{{groupId}}/permissions/{{roleName}}", f"{A}/usergroups/{gid}/permissions/PowerUser", expect=204)
call("PUT", f"{A}/usergroups/{{groupId}}/traversalspecs", f"{A}/usergroups/{gid}/traversalspecs",
     body={"adapterKind": "VMWARE", "name": "vSphere Hosts and Clusters"}, expect=200)

# Auth sources: LOCAL is real, the other types are not supported.
_, sources = call("GET", f"{A}/sources", auth=None, expect=200)
local = sources["sources"][0]["id"]
call("GET", f"{A}/sources/{{sourceId}}", f"{A}/sources/{local}", expect=200)
call("GET", f"{A}/sourcetypes", expect=200)
call("GET", f"{A}/sourcetypes/{{sourceId}}", f"{A}/sourcetypes/LOCAL", expect=200)
call("POST", f"{A}/sources/{{id}}/users", f"{A}/sources/{local}/users", body={"users": [{"username": "imported1", "enabled": True}]}, expect=201)
call("POST", f"{A}/sources/{{id}}/users/search", f"{A}/sources/{local}/users/search", body={"name": "imp*"}, expect=200)
call("POST", f"{A}/sources/{{id}}/usergroups/search", f"{A}/sources/{local}/usergroups/search", body={"name": "ops*"}, expect=200)
ad = {"name": "Corp AD", "sourceType": {"id": "ACTIVE_DIRECTORY"}, "property": [{"name": "host", "value": "dc.corp"}]}
for method, path in [("POST", f"{A}/sources"), ("PUT", f"{A}/sources"), ("PATCH", f"{A}/sources"),
                     ("POST", f"{A}/sources/test"), ("PATCH", f"{A}/sources/test")]:
    call(method, path, body=ad, expect=400)
call("PUT", f"{A}/sources/{{id}}/usergroups/synchronize", f"{A}/sources/{local}/usergroups/synchronize", expect=200)
call("GET", f"{A}/sources/vidb/well-known-url", expect=409)
call("DELETE", f"{A}/sources/{{sourceId}}", f"{A}/sources/{local}", expect=400)

# Deletes last.
call("DELETE", f"{A}/usergroups", f"{A}/usergroups?id={gid}", expect=204)
_, g2 = call("POST", f"{A}/usergroups", body={"name": "to-delete"}, expect=201)
call("DELETE", f"{A}/usergroups/{{id}}", f"{A}/usergroups/{g2['id']}", expect=204)
_, imported = call("GET", f"{A}/users", f"{A}/users?username=imported1", expect=200)
call("DELETE", f"{A}/users/{{id}}", f"{A}/users/{imported['users'][0]['id']}", expect=204)
call("DELETE", f"{A}/users", f"{A}/users?id={uid}", expect=204)
call("DELETE", f"{A}/roles/{{roleName}}", f"{A}/roles/API%20Administrator", expect=204)
call("DELETE", f"{A}/scopes", body={"uuids": [sid]}, expect=200)

all_ops = {(m.upper(), p) for p, v in spec["paths"].items() for m in v if m in ("get", "put", "post", "delete", "patch")}
missing = all_ops - seen
assert not missing, f"operations not driven: {sorted(missing)}"
print(f"all {len(all_ops)} operations driven")
