"""AWS emulator for the tests: moto in server mode for S3 (and the services moto covers), and an
in-repo MSK Connect emulator, on one endpoint. CloudWatch's Smithy RPC v2 CBOR, which moto does
not read, is carried to moto's awsJson side of the same service and back. Requests are routed by the service in their SigV4
credential scope. The MSK Connect part follows the API reference: paths, field names,
DateTimeWithOffset timestamps, CREATING -> ACTIVE states with configurable delays, and typed
errors (`x-amzn-ErrorType`). A control API under /_emulator/ counts the write calls per service,
sets delays, and resets everything.

Usage: python3 tests/emulators/aws.py PORT
"""

import base64
import datetime
import io
import json
import re
import os
import sys
import threading
import time
import urllib.parse
import uuid

import cbor2
import models
from moto.cloudwatch.models import cloudwatch_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ACCOUNT = "123456789012"
LOCK = threading.Lock()
STATE = {
    "plugins": {},
    "workers": {},
    "connectors": {},
    "operations": {},
    "writes": {},
    "calls": {},
    "plugin_delay": 0.0,
    "connector_delay": 0.0,
    # Connector names whose next update fails (UPDATE_FAILED, then rolled back).
    "fail_updates": [],
    # Connector names whose creation ends FAILED.
    "fail_creates": [],
    # Connector names whose next pause, resume or restart operation fails.
    "fail_operations": [],
    # Answer TooManyRequestsException to this many more MSK Connect calls.
    "throttle": 0,
    # The exit code of every ECS task's containers once it stops.
    "task_exit_code": 0,
    # When set, one-shot ECS tasks run for real, as Fargate runs them: their image, command,
    # variables and secrets (read from Secrets Manager), with `awslogs` output in CloudWatch
    # Logs. {"network": a Docker network, "hosts": {endpoint: container on it}}: the network
    # stands for the VPC, the hosts for the private DNS names of what the tasks reach.
    "task_runtime": None,
    # Tasks run by the runtime: ARN -> {"exit": code or None while running}.
    "task_runs": {},
    # Without the runtime: what every one-shot task prints (to its awslogs stream) as it stops.
    "task_output": [],
    # What the load balancer's health checks say of a service's tasks (ECS registers each
    # running task's address with the service's target group): healthy, or a failing state.
    "target_health": {"State": "healthy"},
    # The ports on which the registry's tasks answer their health checks: Apicurio Registry 3.2
    # and later serve /health/* on the Quarkus management interface, 9000 (its
    # app/src/main/resources/application.properties: quarkus.management.enabled=true).
    "health_ports": [9000],
    # Seconds an RDS cluster or instance stays `creating`, and when each was created.
    "rds_delay": 0.0,
    "rds_created": {},
    # Clusters and configurations created through the MSK API, and how long a cluster takes.
    "msk": {},
    "configurations": {},
    "cluster_delay": 0.0,
    # MSK clusters by ARN: their IAM bootstrap servers.
    "clusters": {},
    # RDS: when each cluster parameter group was last modified, which group each cluster uses,
    # and the clusters whose writer waits for a reboot to run the group's static parameters. A
    # cluster created within `param_settle` seconds of its group's modification starts without
    # them (CreateDBClusterParameterGroup reference: "wait at least 5 minutes before creating
    # your first DB cluster that uses that DB cluster parameter group").
    "param_modified": {},
    "cluster_groups": {},
    "pending_reboot": [],
    "param_settle": 300.0,
    # Operations whose next call fails (once each), as if the apply making it were cut short
    # there: a 400 the SDK does not retry.
    "fail_next": [],
    # The write call (counted from when this is set) that fails, as if the apply were cut short
    # there; None: none.
    "fail_write_at": None,
    "writes_seen": 0,
}
# The region of the request being answered (its SigV4 credential scope): ARNs carry it.
REGION = threading.local()
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request")


def region():
    return getattr(REGION, "name", "us-east-1")


def here(resources):
    """The resources (keyed by ARN) of the request's region: names are unique per region."""
    return [r for arn, r in resources.items() if arn.split(":")[3] == region()]


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(kind, status, message):
    body = json.dumps({"message": message})
    return Response(body, status=status, headers={"x-amzn-ErrorType": kind}, content_type="application/json")


def ok(value, status=200):
    return Response(json.dumps(value), status=status, content_type="application/json")


def plugin_state(plugin):
    if plugin["state"] == "CREATING" and time.time() >= plugin["ready_at"]:
        plugin["state"] = "ACTIVE"
    if plugin["state"] == "DELETING" and time.time() >= plugin["ready_at"]:
        return None
    return plugin["state"]


def revision(plugin):
    return {
        "contentType": plugin["contentType"],
        "creationTime": plugin["created"],
        "description": plugin.get("description"),
        "fileDescription": {"fileMd5": plugin["md5"], "fileSize": plugin["size"]},
        "location": {"s3Location": plugin["location"]},
        "revision": 1,
    }


def describe(plugin):
    return {
        "creationTime": plugin["created"],
        "customPluginArn": plugin["arn"],
        "customPluginState": plugin["state"],
        "description": plugin.get("description"),
        "latestRevision": revision(plugin),
        "name": plugin["name"],
    }


def s3_object(location):
    """The S3 object a plugin points at, from moto's backend (None when missing)."""
    from moto.s3.models import s3_backends

    bucket = location["bucketArn"].split(":::")[-1]
    try:
        backend = s3_backends[ACCOUNT]["aws"]
        return backend.get_object(bucket, location["fileKey"])
    except Exception:
        return None


def connector_state(connector):
    if connector["state"] == "CREATING" and connector["name"] in STATE["fail_creates"] and time.time() >= connector["ready_at"]:
        STATE["fail_creates"].remove(connector["name"])
        connector["state"] = "FAILED"
        connector["stateDescription"] = {"code": "ConnectorFailed", "message": "The connector could not reach the Kafka cluster."}
        return connector["state"]
    if connector["state"] in ("CREATING", "UPDATING") and time.time() >= connector["ready_at"]:
        if connector["state"] == "UPDATING":
            operation = STATE["operations"][connector["operation"]]
            if operation["failed"]:
                operation["state"] = "UPDATE_FAILED"
                operation["errorInfo"] = {"code": "ConnectorStartupFailed", "message": "The connector failed to start with the new configuration."}
            else:
                operation["state"] = "UPDATE_COMPLETE"
                connector["connectorConfiguration"] = operation["target"]
                connector["currentVersion"] = uuid.uuid4().hex[:14].upper()
            operation["endTime"] = now()
        connector["state"] = "RUNNING"
    if connector["state"] in OPERATING and time.time() >= connector["ready_at"]:
        operation = STATE["operations"][connector["operation"]]
        kind, before, after = OPERATING[connector["state"]]
        if operation["failed"]:
            operation["state"] = f"{kind}_FAILED"
            operation["errorInfo"] = {"code": "ConnectorOperationFailed", "message": f"The {kind.lower()} did not complete."}
            operation["operationSteps"] = [{"stepType": "INITIALIZE_UPDATE", "stepState": "COMPLETED"},
                                           {"stepType": "FINALIZE_UPDATE", "stepState": "FAILED"}]
            connector["state"] = before
        else:
            operation["state"] = f"{kind}_COMPLETE"
            operation["operationSteps"] = [{"stepType": "INITIALIZE_UPDATE", "stepState": "COMPLETED"},
                                           {"stepType": "FINALIZE_UPDATE", "stepState": "COMPLETED"}]
            connector["state"] = after
        operation["endTime"] = now()
    if connector["state"] == "DELETING" and time.time() >= connector["ready_at"]:
        return None
    return connector["state"]


# A connector's state during an operation: (the operation's state prefix, the state it returns to
# when the operation fails, the state it reaches when it completes).
OPERATING = {
    "PAUSING": ("PAUSE", "RUNNING", "PAUSED"),
    "RESUMING": ("RESUME", "PAUSED", "RUNNING"),
    "RESTARTING": ("RESTART", "RUNNING", "RUNNING"),
}

# What each operation needs and starts (MSK Connect API reference, PauseConnector,
# ResumeConnector, RestartConnector; developer guide, "Pause and resume a connector": pause needs
# RUNNING, resume needs PAUSED, and no other operation may be in progress).
OPERATIONS = {
    "pause": ("PUT", "RUNNING", "PAUSING", "PAUSE_CONNECTOR"),
    "resume": ("PUT", "PAUSED", "RESUMING", "RESUME_CONNECTOR"),
    "restart": ("POST", "RUNNING", "RESTARTING", "RESTART_CONNECTOR"),
}


def connector_operation(request, connector, verb):
    method, needs, becomes, kind = OPERATIONS[verb]
    if request.method != method:
        return error("NotFoundException", 404, f"{request.method} {verb} is not emulated.")
    if connector["state"] != needs:
        return error("ConflictException", 409,
                     f"The connector is {connector['state']}; it must be {needs} to {verb}.")
    if verb == "restart":
        body = json.loads(request.get_data() or b"{}")
        version = tuple(int(p) for p in re.findall(r"\d+", connector["kafkaConnectVersion"])[:2])
        if body.get("onlyFailedTasks") and version < (3, 7):
            return error("BadRequestException", 400,
                         "Restarting only failed tasks requires Kafka Connect version 3.7.x or later.")
    operation_arn = f"arn:aws:kafkaconnect:{region()}:{ACCOUNT}:connector-operation/{connector['name']}/{uuid.uuid4()}"
    failed = connector["name"] in STATE["fail_operations"]
    if failed:
        STATE["fail_operations"].remove(connector["name"])
    STATE["operations"][operation_arn] = {
        "arn": operation_arn,
        "connectorArn": connector["arn"],
        "state": f"{OPERATING[becomes][0]}_IN_PROGRESS",
        "type": kind,
        "created": now(),
        "failed": failed,
    }
    connector["state"] = becomes
    connector["operation"] = operation_arn
    connector["ready_at"] = time.time() + STATE["connector_delay"]
    return ok({"connectorArn": connector["arn"], "connectorOperationArn": operation_arn})


def describe_connector(c):
    return {
        "capacity": c["capacity"],
        "connectorArn": c["arn"],
        "connectorConfiguration": c["connectorConfiguration"],
        "connectorDescription": c.get("connectorDescription"),
        "connectorName": c["name"],
        "connectorState": c["state"],
        "creationTime": c["created"],
        "currentVersion": c["currentVersion"],
        "kafkaCluster": c["kafkaCluster"],
        "kafkaClusterClientAuthentication": c["kafkaClusterClientAuthentication"],
        "kafkaClusterEncryptionInTransit": c["kafkaClusterEncryptionInTransit"],
        "kafkaConnectVersion": c["kafkaConnectVersion"],
        "logDelivery": c.get("logDelivery"),
        "plugins": [{"customPlugin": p["customPlugin"]} for p in c["plugins"]],
        "serviceExecutionRoleArn": c["serviceExecutionRoleArn"],
        "stateDescription": c.get("stateDescription"),
        "workerConfiguration": c.get("workerConfiguration"),
    }


def worker_summary(w, content=False):
    revision = {"creationTime": w["created"], "description": w.get("description"), "revision": 1}
    if content:
        revision["propertiesFileContent"] = w["content"]
    return {
        "creationTime": w["created"],
        "description": w.get("description"),
        "latestRevision": revision,
        "name": w["name"],
        "workerConfigurationArn": w["arn"],
        "workerConfigurationState": w["state"],
    }


def workers_api(request, path, method):
    workers = STATE["workers"]
    if path == "/v1/worker-configurations" and method == "POST":
        body = json.loads(request.get_data() or b"{}")
        name = body.get("name", "")
        if any(w["name"] == name for w in here(workers)):
            return error("ConflictException", 409, f"A worker configuration named {name} already exists.")
        arn = f"arn:aws:kafkaconnect:{region()}:{ACCOUNT}:worker-configuration/{name}/{uuid.uuid4()}"
        workers[arn] = {
            "arn": arn,
            "name": name,
            "state": "ACTIVE",
            "created": now(),
            "description": body.get("description"),
            "content": body.get("propertiesFileContent", ""),
            "tags": body.get("tags", {}),
        }
        summary = worker_summary(workers[arn])
        summary.pop("description")
        return ok(summary)
    if path == "/v1/worker-configurations" and method == "GET":
        return ok({"workerConfigurations": [worker_summary(w) for w in here(workers)]})
    match = re.fullmatch(r"/v1/worker-configurations/(.+)", path)
    if match:
        worker = workers.get(match.group(1))
        if worker is None:
            return error("NotFoundException", 404, f"Worker configuration {match.group(1)} not found.")
        if method == "GET":
            return ok(worker_summary(worker, content=True))
        if method == "DELETE":
            in_use = [c["name"] for c in STATE["connectors"].values()
                      if (c.get("workerConfiguration") or {}).get("workerConfigurationArn") == worker["arn"]]
            if in_use:
                return error("BadRequestException", 400, f"The worker configuration is used by {', '.join(in_use)}.")
            del workers[worker["arn"]]
            return ok({"workerConfigurationArn": worker["arn"], "workerConfigurationState": "DELETING"})
    return None


def connectors_api(request, path, method):
    connectors = STATE["connectors"]
    for arn in [a for a, c in connectors.items() if connector_state(c) is None]:
        del connectors[arn]
    if path == "/v1/connectors" and method == "POST":
        body = json.loads(request.get_data() or b"{}")
        name = body.get("connectorName", "")
        if any(c["name"] == name for c in here(connectors)):
            return error("ConflictException", 409, f"A connector named {name} already exists.")
        for plugin in body.get("plugins", []):
            arn = plugin["customPlugin"]["customPluginArn"]
            if STATE["plugins"].get(arn, {}).get("state") != "ACTIVE":
                return error("BadRequestException", 400, f"Custom plugin {arn} is not ACTIVE.")
        arn = f"arn:aws:kafkaconnect:{region()}:{ACCOUNT}:connector/{name}/{uuid.uuid4()}"
        connector = dict(body)
        connector.update({
            "arn": arn,
            "name": name,
            "state": "CREATING",
            "ready_at": time.time() + STATE["connector_delay"],
            "created": now(),
            "currentVersion": uuid.uuid4().hex[:14].upper(),
            "tags": body.get("tags", {}),
        })
        connectors[arn] = connector
        return ok({"connectorArn": arn, "connectorName": name, "connectorState": "CREATING"})
    if path == "/v1/connectors" and method == "GET":
        summaries = []
        for c in here(connectors):
            summary = describe_connector(c)
            summary.pop("connectorConfiguration")
            summaries.append(summary)
        return ok({"connectors": summaries})
    match = re.fullmatch(r"/v1/connectorOperations/(.+)", path)
    if match and method == "GET":
        operation = STATE["operations"].get(match.group(1))
        if operation is None:
            return error("NotFoundException", 404, "Connector operation not found.")
        connector_state(connectors.get(operation["connectorArn"], {"state": "RUNNING"}))
        return ok({
            "connectorArn": operation["connectorArn"],
            "connectorOperationArn": operation["arn"],
            "connectorOperationState": operation["state"],
            "connectorOperationType": operation["type"],
            "creationTime": operation["created"],
            "endTime": operation.get("endTime"),
            "errorInfo": operation.get("errorInfo"),
            "operationSteps": operation.get("operationSteps", []),
        })
    match = re.fullmatch(r"/v1/connectors/(.+)/(pause|resume|restart)", path)
    if match:
        connector = connectors.get(match.group(1))
        if connector is None:
            return error("NotFoundException", 404, f"Connector {match.group(1)} not found.")
        connector_state(connector)
        return connector_operation(request, connector, match.group(2))
    match = re.fullmatch(r"/v1/connectors/(.+)", path)
    if match:
        connector = connectors.get(match.group(1))
        if connector is None:
            return error("NotFoundException", 404, f"Connector {match.group(1)} not found.")
        if method == "GET":
            return ok(describe_connector(connector))
        if method == "DELETE":
            connector["state"] = "DELETING"
            connector["ready_at"] = time.time() + STATE["connector_delay"]
            return ok({"connectorArn": connector["arn"], "connectorState": "DELETING"})
        if method == "PUT":
            if request.args.get("currentVersion") != connector["currentVersion"]:
                return error("BadRequestException", 400, "The current version of the connector does not match.")
            if connector["state"] != "RUNNING":
                return error("ConflictException", 409, f"The connector is {connector['state']}; it must be RUNNING to update.")
            body = json.loads(request.get_data() or b"{}")
            if "capacity" in body:
                if body["capacity"] == connector["capacity"]:
                    return error("BadRequestException", 400, "The requested capacity is the same as the current capacity.")
                connector["capacity"] = body["capacity"]
                target, kind = connector["connectorConfiguration"], "UPDATE_WORKER_SETTING"
            else:
                target, kind = body.get("connectorConfiguration", {}), "UPDATE_CONNECTOR_CONFIGURATION"
            operation_arn = f"arn:aws:kafkaconnect:{region()}:{ACCOUNT}:connector-operation/{connector['name']}/{uuid.uuid4()}"
            failed = connector["name"] in STATE["fail_updates"]
            if failed:
                STATE["fail_updates"].remove(connector["name"])
            STATE["operations"][operation_arn] = {
                "arn": operation_arn,
                "connectorArn": connector["arn"],
                "state": "UPDATE_IN_PROGRESS",
                "type": kind,
                "created": now(),
                "target": target,
                "failed": failed,
            }
            connector["state"] = "UPDATING"
            connector["operation"] = operation_arn
            connector["ready_at"] = time.time() + STATE["connector_delay"]
            return ok({"connectorArn": connector["arn"], "connectorState": "UPDATING", "connectorOperationArn": operation_arn})
    return None


def kafkaconnect(request):
    path = urllib.parse.unquote(request.path)
    method = request.method
    with LOCK:
        if STATE["throttle"] > 0:
            STATE["throttle"] -= 1
            return error("TooManyRequestsException", 429, "Rate exceeded.")
        answer = connectors_api(request, path, method) or workers_api(request, path, method)
        if answer is not None:
            return answer
        plugins = STATE["plugins"]
        for arn in [a for a, p in plugins.items() if plugin_state(p) is None]:
            del plugins[arn]
        if path == "/v1/custom-plugins" and method == "POST":
            body = json.loads(request.get_data() or b"{}")
            name = body.get("name", "")
            if any(p["name"] == name for p in here(plugins)):
                return error("ConflictException", 409, f"A custom plugin named {name} already exists.")
            location = body.get("location", {}).get("s3Location", {})
            obj = s3_object(location)
            if obj is None:
                return error("BadRequestException", 400, "The S3 object of the custom plugin cannot be read.")
            arn = f"arn:aws:kafkaconnect:{region()}:{ACCOUNT}:custom-plugin/{name}/{uuid.uuid4()}"
            plugins[arn] = {
                "arn": arn,
                "name": name,
                "state": "CREATING",
                "ready_at": time.time() + STATE["plugin_delay"],
                "created": now(),
                "contentType": body.get("contentType", "ZIP"),
                "description": body.get("description"),
                "location": location,
                "md5": obj.etag.strip('"'),
                "size": obj.size,
                "tags": body.get("tags", {}),
            }
            return ok({"customPluginArn": arn, "customPluginState": "CREATING", "name": name, "revision": 1})
        if path == "/v1/custom-plugins" and method == "GET":
            summaries = [
                {
                    "creationTime": p["created"],
                    "customPluginArn": p["arn"],
                    "customPluginState": p["state"],
                    "description": p.get("description"),
                    "latestRevision": revision(p),
                    "name": p["name"],
                }
                for p in here(plugins)
            ]
            return ok({"customPlugins": summaries})
        match = re.fullmatch(r"/v1/custom-plugins/(.+)", path)
        if match:
            plugin = plugins.get(match.group(1))
            if plugin is None:
                return error("NotFoundException", 404, f"Custom plugin {match.group(1)} not found.")
            if method == "GET":
                return ok(describe(plugin))
            if method == "DELETE":
                in_use = [c["name"] for c in STATE["connectors"].values()
                          if any(p["customPlugin"]["customPluginArn"] == plugin["arn"] for p in c["plugins"])]
                if in_use:
                    return error("BadRequestException", 400, f"The custom plugin is used by {', '.join(in_use)}.")
                plugin["state"] = "DELETING"
                plugin["ready_at"] = time.time() + STATE["plugin_delay"]
                return ok({"customPluginArn": plugin["arn"], "customPluginState": "DELETING"})
        match = re.fullmatch(r"/v1/tags/(.+)", path)
        if match and method == "GET":
            resource = plugins.get(match.group(1)) or STATE["connectors"].get(match.group(1)) or STATE["workers"].get(match.group(1))
            return ok({"tags": resource["tags"] if resource else {}})
    return error("NotFoundException", 404, f"{method} {path} is not emulated.")


def msk_cluster_state(cluster):
    """CREATING until `cluster_delay` has passed, then ACTIVE; DELETING, then gone."""
    if cluster.get("deleted_at") is not None:
        return None if time.time() >= cluster["deleted_at"] else "DELETING"
    return "ACTIVE" if time.time() >= cluster["ready_at"] else cluster.get("pending", "CREATING")


def msk_describe(cluster):
    info = dict(cluster["info"])
    info["state"] = msk_cluster_state(cluster)
    return info


def msk_configurations(request, path, method):
    configurations = STATE["configurations"]
    if path == "/v1/configurations" and method == "POST":
        body = json.loads(request.get_data() or b"{}")
        if any(c["name"] == body["name"] for c in here(configurations)):
            return error("ConflictException", 409, f"A configuration named {body['name']} already exists.")
        arn = f"arn:aws:kafka:{region()}:{ACCOUNT}:configuration/{body['name']}/{uuid.uuid4()}"
        configurations[arn] = {
            "arn": arn, "name": body["name"], "kafkaVersions": body.get("kafkaVersions", []),
            "description": body.get("description", ""), "state": "ACTIVE", "creationTime": now(),
            "revisions": [{"revision": 1, "creationTime": now(), "serverProperties": body["serverProperties"]}],
        }
        return ok({"arn": arn, "name": body["name"], "state": "ACTIVE", "creationTime": now(),
                   "latestRevision": {"revision": 1, "creationTime": now()}})
    if path == "/v1/configurations" and method == "GET":
        return ok({"configurations": [summary(c) for c in here(configurations)]})
    match = re.fullmatch(r"/v1/configurations/(.+)/revisions/(\d+)", path)
    if match and method == "GET":
        c = configurations.get(match.group(1))
        revision = int(match.group(2))
        if c is None or revision > len(c["revisions"]):
            return error("NotFoundException", 404, "Configuration revision not found.")
        r = c["revisions"][revision - 1]
        return ok({"arn": c["arn"], "revision": revision, "creationTime": r["creationTime"],
                   "serverProperties": r["serverProperties"]})
    match = re.fullmatch(r"/v1/configurations/([^/]+/[^/]+/[^/]+)", path) or re.fullmatch(r"/v1/configurations/(.+)", path)
    if match and method in ("PUT", "DELETE"):
        c = configurations.get(match.group(1))
        if c is None:
            return error("NotFoundException", 404, "Configuration not found.")
        if method == "DELETE":
            if any(cl["info"]["provisioned"]["currentBrokerSoftwareInfo"].get("configurationArn") == c["arn"]
                   for cl in STATE["msk"].values() if msk_cluster_state(cl) is not None):
                return error("BadRequestException", 400, "The configuration is in use by a cluster.")
            del configurations[c["arn"]]
            return ok({"arn": c["arn"], "state": "DELETING"})
        body = json.loads(request.get_data() or b"{}")
        c["revisions"].append({"revision": len(c["revisions"]) + 1, "creationTime": now(),
                               "serverProperties": body["serverProperties"]})
        return ok({"arn": c["arn"], "latestRevision": {"revision": len(c["revisions"]), "creationTime": now()}})
    return None


def summary(c):
    return {"arn": c["arn"], "name": c["name"], "kafkaVersions": c["kafkaVersions"], "state": c["state"],
            "creationTime": c["creationTime"], "description": c["description"],
            "latestRevision": {"revision": len(c["revisions"]), "creationTime": c["revisions"][-1]["creationTime"]}}


def kafka(request):
    """MSK: clusters (CreateClusterV2, ListClustersV2, DescribeClusterV2, DeleteCluster,
    UpdateClusterConfiguration, GetBootstrapBrokers) and configurations; plus clusters made
    known through the control API."""
    path = urllib.parse.unquote(request.path)
    method = request.method
    with LOCK:
        answer = msk_configurations(request, path, method)
        if answer is not None:
            return answer
        clusters = STATE["msk"]
        for arn in [a for a, c in clusters.items() if msk_cluster_state(c) is None]:
            del clusters[arn]
        if path == "/api/v2/clusters" and method == "POST":
            body = json.loads(request.get_data() or b"{}")
            name = body["clusterName"]
            if any(c["info"]["clusterName"] == name for c in here(clusters)):
                return error("ConflictException", 409, f"A cluster named {name} already exists.")
            arn = f"arn:aws:kafka:{region()}:{ACCOUNT}:cluster/{name}/{uuid.uuid4()}-2"
            provisioned = dict(body["provisioned"])
            configuration = provisioned.pop("configurationInfo", {}) or {}
            provisioned["currentBrokerSoftwareInfo"] = {
                "kafkaVersion": provisioned.pop("kafkaVersion"),
                "configurationArn": configuration.get("arn"),
                "configurationRevision": configuration.get("revision"),
            }
            clusters[arn] = {
                "ready_at": time.time() + STATE["cluster_delay"],
                "info": {"clusterArn": arn, "clusterName": name, "clusterType": "PROVISIONED",
                         "creationTime": now(), "currentVersion": uuid.uuid4().hex[:14].upper(),
                         "provisioned": provisioned, "tags": body.get("tags", {})},
            }
            return ok({"clusterArn": arn, "clusterName": name, "state": "CREATING", "clusterType": "PROVISIONED"})
        if path == "/api/v2/clusters" and method == "GET":
            wanted = request.args.get("clusterNameFilter", "")
            found = [msk_describe(c) for c in here(clusters) if c["info"]["clusterName"].startswith(wanted)]
            return ok({"clusterInfoList": found})
        match = re.fullmatch(r"/api/v2/clusters/(.+)", path)
        if match and method == "GET":
            cluster = clusters.get(match.group(1))
            if cluster is None:
                return error("NotFoundException", 404, f"Cluster {match.group(1)} not found.")
            return ok({"clusterInfo": msk_describe(cluster)})
        match = re.fullmatch(r"/v1/clusters/(.+)/configuration", path)
        if match and method == "PUT":
            cluster = clusters.get(match.group(1))
            body = json.loads(request.get_data() or b"{}")
            if cluster is None:
                return error("NotFoundException", 404, "Cluster not found.")
            if body.get("currentVersion") != cluster["info"]["currentVersion"]:
                return error("BadRequestException", 400, "The current version does not match.")
            software = cluster["info"]["provisioned"]["currentBrokerSoftwareInfo"]
            software["configurationArn"] = body["configurationInfo"]["arn"]
            software["configurationRevision"] = body["configurationInfo"]["revision"]
            cluster["info"]["currentVersion"] = uuid.uuid4().hex[:14].upper()
            cluster["pending"] = "UPDATING"
            cluster["ready_at"] = time.time() + STATE["cluster_delay"]
            return ok({"clusterArn": match.group(1), "clusterOperationArn": f"{match.group(1)}/op/{uuid.uuid4()}"})
        match = re.fullmatch(r"/v1/clusters/(.+)/bootstrap-brokers", path)
        if match and method == "GET":
            known = STATE["clusters"].get(match.group(1))
            if known is not None:
                return ok({"bootstrapBrokerStringSaslIam": known})
            cluster = clusters.get(match.group(1))
            if cluster is None:
                return error("NotFoundException", 404, f"Cluster {match.group(1)} not found.")
            if msk_cluster_state(cluster) != "ACTIVE":
                return error("BadRequestException", 400, "The cluster is not ACTIVE.")
            name = cluster["info"]["clusterName"]
            count = cluster["info"]["provisioned"].get("numberOfBrokerNodes", 1)
            return ok({"bootstrapBrokerStringSaslIam": ",".join(
                f"b-{i}.{name}.abc123.c2.kafka.{region()}.amazonaws.com:9098" for i in range(1, count + 1))})
        match = re.fullmatch(r"/v1/clusters/(.+)", path)
        if match and method == "DELETE":
            cluster = clusters.get(match.group(1))
            if cluster is None:
                return error("NotFoundException", 404, f"Cluster {match.group(1)} not found.")
            cluster["deleted_at"] = time.time() + STATE["cluster_delay"] / 4
            return ok({"clusterArn": match.group(1), "state": "DELETING"})
    return error("NotFoundException", 404, f"{method} {path} is not emulated.")


def query_params(environ):
    """The parameters of a query-protocol call (EC2, IAM, RDS, ELB, STS), leaving the body readable."""
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return {}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}


RDS_BLOCKS = {
    "DescribeDBClusters": (r"<DBCluster>.*?</DBCluster>", "DBClusterIdentifier", "Status"),
    "DescribeDBInstances": (r"<DBInstance>.*?</DBInstance>", "DBInstanceIdentifier", "DBInstanceStatus"),
}


def rds_parameters(action, params):
    """Tracks what makes a writer wait for a reboot to run its cluster parameter group."""
    with LOCK:
        if action == "ModifyDBClusterParameterGroup":
            group = params.get("DBClusterParameterGroupName")
            STATE["param_modified"][group] = time.time()
            for cluster, used in STATE["cluster_groups"].items():
                if used == group and cluster not in STATE["pending_reboot"]:
                    STATE["pending_reboot"].append(cluster)
        elif action == "CreateDBCluster":
            cluster = params.get("DBClusterIdentifier")
            group = params.get("DBClusterParameterGroupName")
            STATE["cluster_groups"][cluster] = group
            modified = STATE["param_modified"].get(group)
            if modified is not None and time.time() - modified < STATE["param_settle"]:
                STATE["pending_reboot"].append(cluster)
        elif action == "RebootDBInstance":
            from moto.rds.models import rds_backends

            instance = params.get("DBInstanceIdentifier")
            for backend in rds_backends[ACCOUNT].values():
                found = backend.databases.get(instance)
                cluster = getattr(found, "db_cluster_identifier", None) if found else None
                if cluster in STATE["pending_reboot"]:
                    STATE["pending_reboot"].remove(cluster)


def rds_creating(action, response):
    """moto's clusters and instances are available at once; RDS takes minutes. For `rds_delay`
    seconds after its creation a cluster or instance says `creating`. A writer waiting for a
    reboot says so in its cluster's members."""
    pattern, key, field = RDS_BLOCKS[action]
    body = response.get_data(as_text=True)

    def creating(match):
        block = match.group(0)
        ident = re.search(f"<{key}>(.*?)</{key}>", block)
        created = STATE["rds_created"].get(ident.group(1)) if ident else None
        if ident and action == "DescribeDBClusters" and ident.group(1) in STATE["pending_reboot"]:
            block = block.replace("<DBClusterParameterGroupStatus>in-sync</DBClusterParameterGroupStatus>",
                                  "<DBClusterParameterGroupStatus>pending-reboot</DBClusterParameterGroupStatus>")
        if created is not None and time.time() - created < STATE["rds_delay"]:
            return block.replace(f"<{field}>available</{field}>", f"<{field}>creating</{field}>")
        return block

    response.set_data(re.sub(pattern, creating, body, flags=re.S))
    return response


def ecs_tasks_run(response):
    """moto never starts ECS tasks; Fargate does: a service runs its desired tasks and its
    deployments roll out."""
    answer = json.loads(response.get_data())
    for service in answer.get("services", []):
        service["runningCount"] = service.get("desiredCount", 0)
        service["pendingCount"] = 0
        for deployment in service.get("deployments", []):
            deployment["taskDefinition"] = service.get("taskDefinition")
            deployment["desiredCount"] = service.get("desiredCount", 0)
            deployment["runningCount"] = deployment.get("desiredCount", 0)
            deployment["pendingCount"] = 0
            deployment["rolloutState"] = "COMPLETED"
    response.set_data(json.dumps(answer))
    return response


def describe_task_definition(environ, body):
    """ECS describes a family without a revision as its latest ACTIVE revision, and a family with
    none as a ClientException (DescribeTaskDefinition reference: "If a family is specified without
    a revision, the latest ACTIVE revision is used"); moto answers its latest revision, even a
    deregistered one. Rewrites the request to name that revision; or answers the error."""
    from moto.ecs.models import ecs_backends

    family = body.get("taskDefinition", "").split("/")[-1]
    if ":" in family:
        return None
    revisions = ecs_backends[ACCOUNT][region()].task_definitions.get(family, {})
    active = [r for r, d in revisions.items() if d.status == "ACTIVE"]
    if not active:
        return Response(json.dumps({"__type": "ClientException", "message": "Unable to describe task definition."}),
                        status=400, headers={"x-amzn-ErrorType": "ClientException"},
                        content_type="application/x-amz-json-1.1")
    data = json.dumps(dict(body, taskDefinition=f"{family}:{max(active)}")).encode()
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return None


def inactive_task_definition(body):
    """ECS refuses a service on an INACTIVE (deregistered) revision; moto does not."""
    from moto.ecs.models import ecs_backends

    wanted = body.get("taskDefinition")
    if not wanted:
        return None
    try:
        definition = ecs_backends[ACCOUNT][region()].describe_task_definition(wanted)
    except Exception:
        return None
    if definition.status == "ACTIVE":
        return None
    return Response(json.dumps({"__type": "ClientException", "message": "TaskDefinition is inactive"}),
                    status=400, headers={"x-amzn-ErrorType": "ClientException"},
                    content_type="application/x-amz-json-1.1")


def ecs_tasks_finish(response):
    """moto's tasks run forever; a one-shot Fargate task ends: STOPPED, with its containers'
    exit code (`task_exit_code`, 0 unless a test sets it), or, with `task_runtime`, as the task
    really ran: RUNNING until its container exits."""
    answer = json.loads(response.get_data())
    for task in answer.get("tasks", []):
        code = STATE["task_exit_code"]
        if STATE["task_runtime"] is not None:
            code = task_run(task)
            if code is None:
                task["lastStatus"] = "RUNNING"
                continue
        elif STATE["task_output"]:
            task_printed(task, STATE["task_output"])
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stoppedReason"] = "Essential container in task exited"
        for container in task.get("containers", []):
            container["lastStatus"] = "STOPPED"
            container["exitCode"] = code
    response.set_data(json.dumps(answer))
    return response


def secret_value(value_from):
    """A container secret's value as ECS reads it from Secrets Manager: `arn:…:secret:NAME`,
    optionally `:json-key:version-stage:version-id`."""
    from moto.secretsmanager.models import secretsmanager_backends

    parts = value_from.split(":")
    arn, key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
    backend = secretsmanager_backends[ACCOUNT][region()]
    text = backend.get_secret_value(arn, None, None)["SecretString"]
    return json.loads(text)[key] if key else text


def task_run(task):
    """Starts the task's one container on first sight, as Fargate would (in a thread, output to
    its awslogs stream); its exit code once it ended, None while it runs."""
    arn = task["taskArn"]
    with LOCK:
        run = STATE["task_runs"].get(arn)
        if run is None:
            run = STATE["task_runs"][arn] = {"exit": None}
            start = True
        else:
            start = False
    if start:
        container, group, stream = task_stream(task)
        runtime = STATE["task_runtime"]
        variables = {v["name"]: v["value"] for v in container.get("environment", [])}
        for secret in container.get("secrets", []):
            variables[secret["name"]] = secret_value(secret["valueFrom"])
        for key, value in list(variables.items()):
            variables[key] = runtime["hosts"].get(value, value)
        threading.Thread(target=run_container, daemon=True,
                         args=(arn, region(), container, variables, runtime["network"],
                               group, stream)).start()
    return run["exit"]


def task_stream(task):
    """The task's container and its awslogs group and stream (`prefix/container/task-id`)."""
    from moto.ecs.models import ecs_backends

    definition = ecs_backends[ACCOUNT][region()].describe_task_definition(task["taskDefinitionArn"])
    container = definition.container_definitions[0]
    logs = container.get("logConfiguration", {}).get("options", {})
    stream = f"{logs.get('awslogs-stream-prefix')}/{container['name']}/{task['taskArn'].rsplit('/', 1)[1]}"
    return container, logs.get("awslogs-group"), stream


def task_printed(task, lines):
    """Writes what the stub task printed to its stream, once."""
    from moto.logs.models import logs_backends

    with LOCK:
        if task["taskArn"] in STATE["task_runs"]:
            return
        STATE["task_runs"][task["taskArn"]] = {"exit": STATE["task_exit_code"]}
    _, group, stream = task_stream(task)
    backend = logs_backends[ACCOUNT][region()]
    stamp = int(time.time() * 1000)
    with LOCK:
        backend.create_log_stream(group, stream)
        backend.put_log_events(group, stream, [{"timestamp": stamp, "message": line} for line in lines])


def run_container(arn, where, container, variables, network, group, stream):
    import subprocess

    from moto.logs.models import logs_backends

    command = ["docker", "run", "--rm", "--network", network]
    for key, value in variables.items():
        command += ["-e", f"{key}={value}"]
    command += [container["image"], *container.get("command", [])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, output = 137, "killed: ran 600 s"
    backend = logs_backends[ACCOUNT][where]
    stamp = int(time.time() * 1000)
    with LOCK:
        try:
            backend.create_log_stream(group, stream)
            lines = [line for line in output.splitlines() if line]
            if lines:
                backend.put_log_events(group, stream, [{"timestamp": stamp, "message": line} for line in lines])
        finally:
            STATE["task_runs"][arn]["exit"] = code


def target_health(params):
    """ELBv2 DescribeTargetHealth for a target group that an ECS service puts its tasks in: one
    IP target per running task on the group's port (Fargate's awsvpc tasks register by IP), in the
    state STATE["target_health"] gives. moto registers no targets for ECS services."""
    from moto.ecs.models import ecs_backends

    from moto.elbv2.models import elbv2_backends

    arn = params.get("TargetGroupArn", "")
    running = 0
    port = 8080
    mapped = set()
    for account in ecs_backends.values():
        for backend in account.values():
            for service in backend.services.values():
                for lb in service.load_balancers or []:
                    if lb.get("targetGroupArn") == arn and service.status == "ACTIVE":
                        running += service.desired_count
                        port = lb.get("containerPort", port)
                        definition = backend.describe_task_definition(service.task_definition)
                        for container in definition.container_definitions:
                            if container.get("name") == lb.get("containerName"):
                                mapped |= {m.get("containerPort") for m in container.get("portMappings", [])}
    check_port = port
    for account in elbv2_backends.values():
        for backend in account.values():
            group = backend.target_groups.get(arn)
            if group is not None and group.health_check_port not in (None, "traffic-port"):
                check_port = int(group.health_check_port)
    health = STATE["target_health"]
    if check_port not in STATE["health_ports"] or check_port not in mapped:
        # Nothing answers the health check there: the check times out, as ELB reports it.
        health = {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}
    members = "".join(
        "<member><Target><Id>10.0.1.{}</Id><Port>{}</Port></Target><HealthCheckPort>{}</HealthCheckPort>"
        "<TargetHealth><State>{}</State>{}{}</TargetHealth></member>".format(
            10 + i, port, check_port, health["State"],
            f"<Reason>{health['Reason']}</Reason>" if "Reason" in health else "",
            f"<Description>{health['Description']}</Description>" if "Description" in health else "",
        )
        for i in range(running)
    )
    body = (
        '<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<DescribeTargetHealthResult><TargetHealthDescriptions>{members}</TargetHealthDescriptions>"
        "</DescribeTargetHealthResult><ResponseMetadata><RequestId>"
        f"{uuid.uuid4()}</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"
    )
    return Response(body, status=200, content_type="text/xml")


def control(request, moto_app):
    if request.path == "/_emulator/calls":
        with LOCK:
            return ok({"writes": STATE["writes"], "calls": STATE["calls"]})
    if request.path == "/_emulator/config" and request.method == "POST":
        with LOCK:
            STATE.update(json.loads(request.get_data()))
        return ok({})
    if request.path == "/_emulator/reset" and request.method == "POST":
        with LOCK:
            STATE.update({"plugins": {}, "workers": {}, "connectors": {}, "operations": {}, "writes": {}, "calls": {},
                          "msk": {}, "configurations": {}, "target_health": {"State": "healthy"},
                          "param_modified": {}, "cluster_groups": {}, "pending_reboot": [], "fail_next": [],
                          "fail_write_at": None, "writes_seen": 0, "rds_created": {},
                          "task_runtime": None, "task_runs": {}, "fail_operations": [], "task_output": [],
                          "health_ports": [9000]})
        return None  # moto resets on its own /moto-api/reset
    return error("NotFoundException", 404, "unknown control path")


def validate(service, environ):
    """A 400 as the service gives it when the request breaks its API model or a documented rule
    the model does not encode; None when it conforms. The body stays readable for moto."""
    if service == "s3":
        request, params = Request(environ), {}  # S3 payloads are objects: left unread
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = query_params(environ)
        request = Request(dict(environ, **{"wsgi.input": io.BytesIO(body)}))
    try:
        operation, errors = models.violations(service, request, params)
    except Exception as e:  # the emulator's gap: fail loudly rather than let the request through
        return error("InternalFailure", 500, f"the emulator cannot validate this {service} request: {e!r}")
    reads = (operation or "").startswith(("Get", "Describe", "List", "BatchGet", "Head")) \
        or request.method in ("GET", "HEAD")
    with LOCK:
        if operation in STATE["fail_next"]:
            STATE["fail_next"].remove(operation)
            return refusal(service, "InjectedFault", f"{operation} failed: the tests cut the apply short here")
        if not reads and STATE["fail_write_at"] is not None:
            STATE["writes_seen"] += 1
            if STATE["writes_seen"] == STATE["fail_write_at"]:
                STATE["fail_write_at"] = None
                return refusal(service, "InjectedFault", f"{operation} failed: the tests cut the apply short here")
    if not errors and service == "kafkaconnect":
        errors = msk_connect_rules(operation, request)
    if not errors:
        return None
    return refusal(service, models.error_code(service), models.message(errors))


def refusal(service, code, text):
    protocol = models.model(service)["metadata"]["protocol"]
    request_id = str(uuid.uuid4())
    if protocol == models.CBOR:
        return cbor_error(code, text, 400)
    if protocol in ("json", "rest-json"):
        body = {"__type": code, "message": text} if protocol == "json" else {"message": text}
        return Response(json.dumps(body), status=400, content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id})
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
    elif protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{text}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    else:
        body = f"<Error><Code>InvalidArgument</Code><Message>{text}</Message><RequestId>{request_id}</RequestId></Error>"
    return Response(body, status=400, content_type="text/xml")


def cbor_error(code, text, status):
    """An RPC v2 CBOR error: `__type` and `message` in the body; a query-compatible service
    (CloudWatch) also names its query error code and fault in `x-amzn-query-error`, which the
    SDKs read first."""
    body = cbor2.dumps({"__type": code, "message": text})
    return Response(body, status=status, content_type="application/cbor",
                    headers={"smithy-protocol": "rpc-v2-cbor", "x-amzn-query-error": f"{code};Sender",
                             "x-amzn-RequestId": str(uuid.uuid4())})


def rpc_v2_cbor(service, environ, moto_app):
    """An RPC v2 CBOR call answered by moto's awsJson1_0 handler of the same service (CloudWatch
    lists both protocols in its model's `protocols`): the CBOR input as the equivalent JSON
    document, sent to `/` with the operation in `X-Amz-Target`; the JSON answer back as CBOR of
    the operation's output shape."""
    service_model = models.model(service)
    operation = models.rpc_operation(environ["PATH_INFO"])
    op = service_model["operations"][operation]
    data = environ["wsgi.input"].getvalue()
    document = models.cbor_to_json(cbor2.loads(data)) if data else {}
    body = json.dumps(document).encode()
    inner = dict(environ, **{
        "PATH_INFO": "/", "RAW_URI": "/", "REQUEST_URI": "/", "CONTENT_TYPE": "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        "HTTP_X_AMZ_TARGET": f"{service_model['metadata']['targetPrefix']}.{operation}",
    })
    alarms = cloudwatch_backends[ACCOUNT][region()].alarms if operation == "PutMetricAlarm" else {}
    before = alarms.get(document.get("AlarmName"))
    kept = before and (before.state_value, before.state_reason, before.state_reason_data,
                       before.state_updated_timestamp)
    answer = Response.from_app(moto_app, inner)
    text = answer.get_data() or b"{}"
    # PutMetricAlarm (CloudWatch API reference): "When this operation creates an alarm, the alarm
    # state is immediately set to INSUFFICIENT_DATA ... When you update an existing alarm, its
    # state is left unchanged". moto starts every put at OK.
    after = alarms.get(document.get("AlarmName"))
    if answer.status_code < 300 and after is not None:
        if kept:
            (after.state_value, after.state_reason, after.state_reason_data,
             after.state_updated_timestamp) = kept
        else:
            after.update_state("Unchecked: Initial alarm creation", "{}", "INSUFFICIENT_DATA")
    if answer.status_code >= 300:
        failure = json.loads(text)
        code = failure.get("__type", "InternalFailure").rpartition("#")[2]
        return cbor_error(code, failure.get("message") or failure.get("Message", ""), answer.status_code)
    output = json.loads(text)
    if "output" in op:
        output = models.json_to_cbor(service_model["shapes"], op["output"]["shape"], output)
    return Response(cbor2.dumps(output), status=200, content_type="application/cbor",
                    headers={"smithy-protocol": "rpc-v2-cbor"})


# MSK Connect's documented rules that its API model does not encode.
# "Supported worker configuration properties" (docs.aws.amazon.com/msk/latest/developerguide/
# msk-connect-supported-worker-config-properties.html): both converters are required; of the
# producer./consumer. keys only those listed; none of the listed prefixes.
WORKER_PRODUCER = {
    "acks", "batch.size", "buffer.memory", "compression.type", "enable.idempotence", "key.serializer",
    "linger.ms", "max.request.size", "metadata.max.age.ms", "metadata.max.idle.ms", "partitioner.class",
    "reconnect.backoff.max.ms", "reconnect.backoff.ms", "request.timeout.ms", "retry.backoff.ms",
    "value.serializer",
}
WORKER_CONSUMER = {
    "allow.auto.create.topics", "auto.offset.reset", "check.crcs", "fetch.max.bytes", "fetch.max.wait.ms",
    "fetch.min.bytes", "heartbeat.interval.ms", "key.deserializer", "max.partition.fetch.bytes",
    "max.poll.interval.ms", "max.poll.records", "metadata.max.age.ms", "partition.assignment.strategy",
    "reconnect.backoff.max.ms", "reconnect.backoff.ms", "request.timeout.ms", "retry.backoff.ms",
    "session.timeout.ms", "value.deserializer",
}
WORKER_REFUSED_PREFIXES = (
    "access.control.", "admin.", "client.", "connect.", "inter.worker.", "internal.", "listeners.https.",
    "metrics.", "rest.", "sasl.", "security.",
)
# "Understand connector capacity" and the CreateConnector reference: MCUs per worker 1, 2, 4 or 8;
# 1 to 10 workers; Kafka Connect 2.7.1 or 3.7.x.
MCU_COUNTS = (1, 2, 4, 8)
KAFKA_CONNECT_VERSIONS = ("2.7.1", "3.7.x")


def worker_rules(content):
    try:
        text = base64.b64decode(content, validate=True).decode()
    except Exception:
        return ["propertiesFileContent must be the base64 of a properties file"]
    keys = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            keys.add(re.split(r"\s*[=:]\s*|\s+", line, maxsplit=1)[0])
    errors = [f"The worker configuration must set {k}" for k in ("key.converter", "value.converter") if k not in keys]
    for key in sorted(keys):
        if key.startswith("producer.") and key[len("producer."):] not in WORKER_PRODUCER:
            errors.append(f"The worker configuration property {key} is not supported")
        elif key.startswith("consumer.") and key[len("consumer."):] not in WORKER_CONSUMER:
            errors.append(f"The worker configuration property {key} is not supported")
        elif key.startswith(WORKER_REFUSED_PREFIXES):
            errors.append(f"The worker configuration property {key} is not supported")
    return errors


def capacity_rules(capacity):
    errors = []
    provisioned = capacity.get("provisionedCapacity")
    auto = capacity.get("autoScaling")
    if (provisioned is None) == (auto is None):
        errors.append("capacity must have exactly one of provisionedCapacity and autoScaling")
    for part in (provisioned, auto):
        if part and part.get("mcuCount") not in MCU_COUNTS:
            errors.append(f"mcuCount must be one of 1, 2, 4, 8, not {part.get('mcuCount')}")
    if provisioned and not 1 <= provisioned.get("workerCount", 0) <= 10:
        errors.append("workerCount must be between 1 and 10")
    if auto:
        low, high = auto.get("minWorkerCount", 0), auto.get("maxWorkerCount", 0)
        if not (1 <= low <= high <= 10):
            errors.append("minWorkerCount and maxWorkerCount must satisfy 1 <= min <= max <= 10")
    return errors


def msk_connect_rules(operation, request):
    body = json.loads(request.get_data() or b"{}")
    if operation == "CreateWorkerConfiguration":
        return worker_rules(body.get("propertiesFileContent", ""))
    if operation == "CreateConnector":
        errors = capacity_rules(body.get("capacity", {}))
        if body.get("kafkaConnectVersion") not in KAFKA_CONNECT_VERSIONS:
            errors.append(f"kafkaConnectVersion must be one of {', '.join(KAFKA_CONNECT_VERSIONS)}")
        if len(body.get("plugins", [])) != 1:
            errors.append("A connector takes exactly one custom plugin")
        return errors
    if operation == "UpdateConnector" and "capacity" in body:
        return capacity_rules(body["capacity"])
    return []


def application(moto_app):
    def app(environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            response = control(request, moto_app)
            if response is None:
                environ["PATH_INFO"] = "/moto-api/reset"
                return moto_app(environ, start_response)
            return response(environ, start_response)
        scope = SCOPE.search(request.headers.get("Authorization", ""))
        service = scope.group(2) if scope else "unknown"
        REGION.name = scope.group(1) if scope else "us-east-1"
        refused = validate(service, environ)
        if refused is not None:
            return refused(environ, start_response)
        request = Request(environ)
        with LOCK:
            STATE["calls"][service] = STATE["calls"].get(service, 0) + 1
            # JSON protocols (X-Amz-Target) and query protocols (Action=) POST every call: the
            # action's name says if it writes.
            params = query_params(environ)
            action = (request.headers.get("X-Amz-Target", "").rpartition(".")[2] or params.get("Action", "")
                      or models.rpc_operation(request.path) or "")
            if action in ("CreateDBCluster", "CreateDBInstance"):
                ident = params.get("DBClusterIdentifier" if action == "CreateDBCluster" else "DBInstanceIdentifier")
                STATE["rds_created"][ident] = time.time()
            reads = action.startswith(("Get", "Describe", "List", "BatchGet")) if action else request.method in ("GET", "HEAD")
            if not reads:
                STATE["writes"][service] = STATE["writes"].get(service, 0) + 1
        if service == "kafkaconnect":
            return kafkaconnect(request)(environ, start_response)
        if request.headers.get("smithy-protocol") == "rpc-v2-cbor":
            return rpc_v2_cbor(service, environ, moto_app)(environ, start_response)
        if service == "kafka":
            return kafka(request)(environ, start_response)
        if service == "rds":
            rds_parameters(action, params)
        if service == "rds" and action in RDS_BLOCKS:
            return rds_creating(action, Response.from_app(moto_app, environ))(environ, start_response)
        if service == "elasticloadbalancing" and action == "DescribeTargetHealth":
            return target_health(params)(environ, start_response)
        if service == "ecs" and request.headers.get("X-Amz-Target", "").endswith((".CreateService", ".UpdateService")):
            refused = inactive_task_definition(json.loads(environ["wsgi.input"].getvalue() or b"{}"))
            if refused is not None:
                return refused(environ, start_response)
        if service == "ecs" and request.headers.get("X-Amz-Target", "").endswith(".DescribeTaskDefinition"):
            answer = describe_task_definition(environ, json.loads(environ["wsgi.input"].getvalue() or b"{}"))
            if answer is not None:
                return answer(environ, start_response)
        if service == "ecs" and request.headers.get("X-Amz-Target", "").endswith(".DescribeTasks"):
            return ecs_tasks_finish(Response.from_app(moto_app, environ))(environ, start_response)
        if service == "ecs" and request.headers.get("X-Amz-Target", "").endswith(".DescribeServices"):
            return ecs_tasks_run(Response.from_app(moto_app, environ))(environ, start_response)
        if service == "s3" and request.method == "GET" and "versioning" in request.args:
            # moto names the root GetBucketVersioningResponse; S3 (and the SDK) say
            # VersioningConfiguration.
            response = Response.from_app(moto_app, environ)
            body = response.get_data().replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
            response.set_data(body)
            return response(environ, start_response)
        return moto_app(environ, start_response)

    return app


if __name__ == "__main__":
    # Port 0: the system picks a free one, said on the first line of stdout, so concurrent
    # emulators never race for a port chosen before they bind it.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    moto_app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, application(moto_app), threaded=True)
    print(server.server_port, flush=True)
    # Nothing reads stdout after the port: anything else printed goes to the log.
    os.dup2(2, 1)
    server.serve_forever()
