"""A user-management lifecycle through Broadcom's own `vcf-operations` SDK
(PyPI `vcf-operations`, generated from VMware's OpenAPI document), the way
its sample `vcf-operations-samples/operations/auth/user_management.py` and
`helpers/client.py` (vmware/vcf-sdk-python) drive it: a token acquired with
`token_client.Acquire`, then `OpsToken` on every call through a vAPI stub
configuration; the sample's own bodies (user-management-config.json).
Every step runs even after a failure; the tally is printed at the end.
Usage: vcf_operations_lifecycle.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD"""

import sys
import traceback

import requests
from vcf.operations.api import auth_client
from vcf.operations.api.auth import roles_client, token_client, usergroups_client, users_client
from vcf.operations.model_client import (
    PrivilegeKeys,
    RolePermission,
    Scope,
    User,
    UserGroup,
    UsernamePassword,
    UserRole,
    UuidValues,
)
from vmware.vapi.bindings.error import VapiError
from vmware.vapi.lib.connect import get_requests_connector
from vmware.vapi.security.client.security_context_filter import LegacySecurityContextFilter
from vmware.vapi.security.http_authorization import create_http_authorization_security_context
from vmware.vapi.stdlib.client.factories import StubConfigurationFactory

base, admin, admin_password = sys.argv[1], sys.argv[2], sys.argv[3]
host_url = f"{base}/suite-api"
session = requests.Session()
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
            detail = e.get_error_value() if isinstance(e, VapiError) else e
            print(f"FAIL {name}: {detail}")
            traceback.print_exc(limit=2)
        return fn

    return run


def plain_config():
    return StubConfigurationFactory.new_std_configuration(
        get_requests_connector(session=session, msg_protocol="rest", url=host_url)
    )


def token_config(token):
    ctx = create_http_authorization_security_context(authz_credentials=token, authn_scheme="OpsToken")
    return StubConfigurationFactory.new_std_configuration(
        get_requests_connector(
            session=session,
            url=host_url,
            msg_protocol="rest",
            provider_filter_chain=[LegacySecurityContextFilter(security_context=ctx)],
        )
    )


@step("acquire a token (helpers/client.py)")
def _():
    token = token_client.Acquire(plain_config()).acquire_token(
        username_password=UsernamePassword(auth_source=None, username=admin, password=admin_password)
    )
    assert token.token and token.validity > 0, token
    state["cfg"] = token_config(token.token)


cfg = state.get("cfg")
users = auth_client.Users(cfg)
groups = auth_client.Usergroups(cfg)
roles = auth_client.Roles(cfg)
scopes = auth_client.Scopes(cfg)


@step("current user")
def _():
    me = auth_client.Currentuser(cfg).get_current_user()
    assert me.username == admin, me


@step("create user (sample userConfig)")
def _():
    user = User()
    user.first_name, user.last_name = "First", "Last"
    user.email_address = "first.last@somedomain.com"
    user.username = "username"
    user.password = "Password@123Password@123"
    created = users.create_user(user)
    assert created.id and created.username == "username", created
    state["user"] = created


@step("get user")
def _():
    u = users.get_user(state["user"].id)
    assert (u.first_name, u.last_name) == ("First", "Last"), u


@step("get users")
def _():
    listed = users.get_users(None, None, None)
    assert any(u.id == state["user"].id for u in listed.users), listed


@step("get users by username")
def _():
    listed = users.get_users(username=["username"])
    assert [u.id for u in listed.users] == [state["user"].id], listed


@step("modify user (sample: names, email, password)")
def _():
    user = state["user"]
    user.first_name, user.last_name = "New-First", "New-Last"
    user.email_address = "last.first@somedomain.com"
    user.password = "newPassword@123"
    modified = users.modify_user(user)
    assert (modified.first_name, modified.last_name) == ("New-First", "New-Last"), modified
    assert modified.email_address == "last.first@somedomain.com", modified


@step("the new password acquires a token")
def _():
    token = token_client.Acquire(plain_config()).acquire_token(
        username_password=UsernamePassword(auth_source="LOCAL", username="username", password="newPassword@123")
    )
    assert token.token, token
    state["user_token"] = token.token


@step("the user's token reads the current user")
def _():
    me = auth_client.Currentuser(token_config(state["user_token"])).get_current_user()
    assert me.username == "username", me


@step("the user's token is released")
def _():
    token_client.Release(token_config(state["user_token"])).release_token()


@step("create scope")
def _():
    scope = scopes.create_scope(Scope(name="Sample scope", description="Scope Description"))
    assert scope.id and scope.name == "Sample scope", scope
    state["scope"] = scope


@step("get scope")
def _():
    s = scopes.get_scope(state["scope"].id)
    # roster's containers have no description yet: it is not kept.
    assert s.name == "Sample scope", s


@step("modify scope")
def _():
    s = scopes.modify_scope(Scope(id=state["scope"].id, name="Sample scope 2", description="Changed"))
    assert s.name == "Sample scope 2", s


@step("list scopes")
def _():
    listed = scopes.get_all_object_scopes()
    assert any(s.id == state["scope"].id for s in listed.scopes_details), listed


@step("assign a scoped role permission to the user")
def _():
    perms = users_client.Permissions(cfg).assign_role_permission_to_user(
        state["user"].id,
        RolePermission(role_name="ReadOnly", scope_id=state["scope"].id, allow_all_objects=False),
    )
    assert any(p.role_name == "ReadOnly" for p in perms.permissions), perms


@step("get the user's permissions")
def _():
    perms = users_client.Permissions(cfg).get_assigned_role_permissions_for_user(state["user"].id)
    assert [p.role_name for p in perms.permissions] == ["ReadOnly"], perms


@step("remove the user's permission")
def _():
    users_client.Permissions(cfg).unassigned_role_permission_from_user(state["user"].id, "ReadOnly")
    perms = users_client.Permissions(cfg).get_assigned_role_permissions_for_user(state["user"].id)
    assert not perms.permissions, perms


@step("create user group (sample userGroupConfig, with the user)")
def _():
    group = UserGroup()
    group.name = "Group name"
    group.description = "Group Description"
    group.user_ids = [state["user"].id]
    created = groups.create_user_group(group)
    assert created.id and created.user_ids == [state["user"].id], created
    state["group"] = created


@step("get user group")
def _():
    g = groups.get_user_group(state["group"].id)
    assert g.name == "Group name" and g.description == "Group Description", g


@step("get user groups")
def _():
    listed = groups.get_user_groups()
    assert any(g.id == state["group"].id for g in listed.user_groups), listed


@step("modify user group (sample: new name and description)")
def _():
    group = state["group"]
    group.name = "New-Group-Name"
    group.description = "New-Group-Description"
    groups.modify_user_group(group)
    g = groups.get_user_group(group.id)
    # VMware's spec: a group's name cannot change; the rest applies.
    assert g.name == "Group name" and g.description == "New-Group-Description", g


@step("assign a role permission to the group")
def _():
    perms = usergroups_client.Permissions(cfg).assign_role_permission_to_user_group(
        state["group"].id, RolePermission(role_name="ReadOnly", allow_all_objects=True)
    )
    assert any(p.role_name == "ReadOnly" for p in perms.permissions), perms


@step("the sample's product privilege keys are refused in Aria's envelope")
def _():
    # roster's privileges are its own (GET /api/auth/privileges); a role
    # naming keys roster does not have would claim powers it cannot give.
    role = UserRole(name="Role name", description="Role Description",
                    privilege_keys=["ManageAlerts", "ManageAlarms", "ManageNotificationPlugins"])
    try:
        roles.create_user_role(role)
    except VapiError as e:
        value = e.get_error_value()
        assert value.get_field("httpStatusCode").value == 400, value
    else:
        raise AssertionError("accepted privilege keys roster does not have")


@step("list privileges")
def _():
    listed = auth_client.Privileges(cfg).get_available_privileges(None)
    state["keys"] = [p.key for p in listed.privileges]
    assert "users.read" in state["keys"], listed


@step("create user role (sample userRoleConfig, the server's privilege keys)")
def _():
    role = UserRole()
    role.name = "Role name"
    role.description = "Role Description"
    role.privilege_keys = ["users.read", "groups.read"]
    created = roles.create_user_role(role)
    assert created.name == "Role name", created
    state["role"] = created


@step("get user role")
def _():
    r = roles.get_role_by_name("Role name")
    assert r.description == "Role Description", r


@step("get user roles")
def _():
    listed = roles.get_roles(None)
    assert any(r.name == "Role name" for r in listed.user_roles), listed


@step("update user role (sample: new description)")
def _():
    role = state["role"]
    role.description = "New-Role-Description"
    updated = roles.update_user_role(role)
    assert updated.description == "New-Role-Description", updated


@step("add role privileges")
def _():
    keys = roles_client.Privileges(cfg).add_role_privileges("Role name", PrivilegeKeys(privilege_key=["roles.read"]))
    assert "roles.read" in keys.privilege_key, keys


@step("delete user group")
def _():
    groups.delete_user_group(state["group"].id)


@step("delete user")
def _():
    users.delete_user(state["user"].id)


@step("the deleted user is gone from the list")
def _():
    listed = users.get_users(None, None, None)
    assert not any(u.id == state["user"].id for u in (listed.users or [])), listed


@step("delete user role")
def _():
    roles.delete_user_role("Role name")


@step("delete scope")
def _():
    scopes.delete_scopes(UuidValues(uuids=[state["scope"].id]))


@step("release the token")
def _():
    token_client.Release(cfg).release_token()


total = len(passed) + len(failed)
print(f"vcf-operations lifecycle: {len(passed)} of {total} steps passed")
if failed:
    print("failed: " + "; ".join(failed))
    sys.exit(1)
