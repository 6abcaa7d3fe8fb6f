"""A user-management lifecycle through VMware's `SuiteApiClient`, from
PyPI `vmware-aria-operations-integration-sdk-lib` (`aria.ops.suite_api_client`):
the client management packs use. It acquires a token with
`{"username","password","authSource"}` on entering its `with` block, sends
`Authorization: vRealizeOpsToken <token>` and `Accept: application/json`
on every call, and releases the token on leaving. Bodies follow VMware's
`/api/auth` reference (aria-operations.md). Every step runs even after a
failure; the tally is printed at the end.
Usage: aria_suite_api_lifecycle.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD"""

import sys
import traceback

from aria.ops.suite_api_client import SuiteApiClient, SuiteApiConnectionParameters

base, admin, admin_password = sys.argv[1], sys.argv[2], sys.argv[3]
passed, failed = [], []
state = {}


def step(name):
    def run(fn):
        try:
            fn()
            passed.append(name)
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - every step is reported
            failed.append(name)
            print(f"FAIL {name}: {e}")
            traceback.print_exc(limit=2)
        return fn

    return run


def ok(response, status=200):
    with response:
        assert response.status_code == status, f"{response.status_code} {response.text}"
        return response.json() if response.content else None


params = SuiteApiConnectionParameters(base, admin, admin_password)
with SuiteApiClient(params) as client:

    @step("acquire a token on entering the with block")
    def _():
        assert client.token, "no token"

    @step("current user")
    def _():
        assert ok(client.get("/api/auth/currentuser"))["username"] == admin

    @step("create user (VMware's create-user example)")
    def _():
        body = {
            "username": "test", "firstName": "test", "lastName": "test", "password": "Test@123",
            "enabled": True, "role-permissions": [{"roleName": "PowerUser", "allowAllObjects": True}],
            "lastLoginTime": 0,
        }
        state["user"] = ok(client.post("/api/auth/users", json=body), 201)
        assert state["user"]["id"]

    @step("find the user by username")
    def _():
        found = ok(client.get("/api/auth/users", params={"username": "test", "_no_links": "true"}))
        assert [u["id"] for u in found["users"]] == [state["user"]["id"]], found

    @step("find users by role")
    def _():
        found = ok(client.get("/api/auth/users", params={"roleName": "PowerUser"}))
        assert any(u["id"] == state["user"]["id"] for u in found["users"]), found

    @step("modify the user (PUT with id)")
    def _():
        body = dict(state["user"], emailAddress="test@example.com", lastName="tester")
        changed = ok(client.put("/api/auth/users", json=body))
        assert changed["lastName"] == "tester" and changed["emailAddress"] == "test@example.com", changed

    @step("patch the user (PowerValidatedSolutions' PATCH)")
    def _():
        changed = ok(client.patch(f"/api/auth/users/{state['user']['id']}", json={"enabled": False}))
        assert changed["enabled"] is False and changed["lastName"] == "tester", changed
        ok(client.patch(f"/api/auth/users/{state['user']['id']}", json={"enabled": True}))

    @step("replace the user's permission with a scoped one")
    def _():
        scope = ok(client.post("/api/auth/scopes", json={"name": "Lab", "description": "Lab hosts"}), 201)
        state["scope"] = scope
        perms = ok(client.put(
            f"/api/auth/users/{state['user']['id']}/permissions",
            json={"roleName": "ReadOnly", "scopeId": scope["id"], "allowAllObjects": False},
        ))
        assert any(p["roleName"] == "ReadOnly" for p in perms["permissions"]), perms

    @step("get the scope")
    def _():
        scope = ok(client.get(f"/api/auth/scopes/{state['scope']['id']}"))
        # roster's containers have no description yet: it is not kept.
        assert scope["name"] == "Lab", scope

    @step("remove the user's PowerUser permission")
    def _():
        ok(client.delete(f"/api/auth/users/{state['user']['id']}/permissions/PowerUser"), 204)

    @step("create a user group with the user")
    def _():
        body = {"name": "ops-admins", "description": "admins", "userIds": [state["user"]["id"]],
                "role-permissions": [{"roleName": "Administrator", "allowAllObjects": True}]}
        state["group"] = ok(client.post("/api/auth/usergroups", json=body), 201)

    @step("find the group by name")
    def _():
        found = ok(client.get("/api/auth/usergroups", params={"name": "ops-admins"}))
        assert [g["id"] for g in found["userGroups"]] == [state["group"]["id"]], found

    @step("empty the group (PUT userIds)")
    def _():
        ok(client.put("/api/auth/usergroups", json={"id": state["group"]["id"], "name": "ops-admins", "userIds": []}))
        g = ok(client.get(f"/api/auth/usergroups/{state['group']['id']}"))
        assert g["userIds"] == [], g

    @step("delete the group")
    def _():
        ok(client.delete(f"/api/auth/usergroups/{state['group']['id']}"), 204)

    @step("delete the user")
    def _():
        ok(client.delete("/api/auth/users", params={"id": state["user"]["id"]}), 204)

    @step("the deleted user is not found")
    def _():
        with client.get(f"/api/auth/users/{state['user']['id']}") as r:
            assert r.status_code == 404 and r.json()["httpStatusCode"] == 404, r.text

    @step("delete the scope")
    def _():
        ok(client.delete("/api/auth/scopes", json={"uuids": [state["scope"]["id"]]}))

    token = client.token

# Leaving the with block released the token.
with SuiteApiClient(params) as other:

    @step("the released token no longer works")
    def _():
        other.token = token
        with other.get("/api/auth/currentuser") as r:
            assert r.status_code == 401, r.text


total = len(passed) + len(failed)
print(f"SuiteApiClient lifecycle: {len(passed)} of {total} steps passed")
if failed:
    print("failed: " + "; ".join(failed))
    sys.exit(1)
