"""Simulated AWS for marketctl's ECS tests: moto, plus the parts of ECS and CloudWatch moto lacks.

SIMULATION. What is moto's and what is this harness's:
  moto (real protocols, real state): STS, ECR, Secrets Manager, S3 (conditional writes), ELBv2
    (load balancers, target groups, listeners, rules), CloudWatch alarms and SetAlarmState,
    CloudWatch metric storage and GetMetricData (Sum), ECS clusters, task definitions, services,
    RunTask and DescribeTasks; RDS instances and RestoreDBInstanceToPointInTime (restored at
    once, the restore time not checked against a window).
  this harness (moto stores deploymentConfiguration without acting on it, never starts tasks and
  answers HTTP 500 to the service-deployment calls):
    - service deployments that move through ECS's lifecycle stages after UpdateService, with
      PAUSE hooks, ContinueServiceDeployment, StopServiceDeployment(ROLLBACK), the circuit
      breaker, alarm-triggered rollback (alarms whose state a test set with SetAlarmState) and
      the production/test listener rule weights shifting;
    - tasks: an image's behaviour (set by the test) decides whether its tasks start, whether
      they pass health checks, their 5xx rate and latency, and a one-off task's exit code;
    - traffic: a steady synthetic load written as ALB metrics (RequestCount,
      HTTPCode_Target_5XX_Count, TargetResponseTime) per target group, and percentiles (p50,
      p95, p99) in GetMetricData, which moto does not compute;
    - DescribeTargetHealth from the simulated tasks (moto reports every target healthy);
    - /_sim/test/PATH and /_sim/prod/PATH: the test and production listeners, answering as the
      release behind them would.
  One simulated minute (bake times, hook time-outs) lasts HARNESS_MINUTE_SECONDS real seconds.

Usage: python3 harness.py PORT  (prints "ready" once it serves)
"""

import io
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.cloudwatch import models as cw_models
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from werkzeug.serving import make_server

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-west-2"
DR_REGION = "us-east-1"
MINUTE = float(os.environ.get("HARNESS_MINUTE_SECONDS", "1"))
STEP = 0.25  # seconds per non-waiting lifecycle stage
LOCK = threading.RLock()

# ---- percentiles in GetMetricData (harness) -------------------------------------------------
_original_stat = cw_models.Statistics.get_statistics_for_type


def _stat_with_percentiles(self, stat):
    if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
        values = sorted(self.metric_single_values_list)
        if not values:
            return None
        rank = float(stat[1:]) / 100.0 * len(values)
        return values[min(len(values) - 1, max(0, int(rank + 0.999999) - 1))]
    return _original_stat(self, stat)


cw_models.Statistics.get_statistics_for_type = _stat_with_percentiles


class World:
    """Everything the harness simulates, guarded by LOCK."""

    def __init__(self):
        self.url = None
        self.behaviours = {}  # image digest -> behaviour
        self.deployments = {}  # arn -> dict
        self.services = {}  # service arn -> {"prod_tg", "alt_tg", rules, lb, "task_def"}
        self.task_defs = {}  # task definition arn -> image
        self.one_off = {}  # task arn -> (started, exit code)
        self.calls = []  # (seconds, "ecs:UpdateService") made by marketctl
        self.rps = 40.0
        self.started = time.time()
        self.hook_seq = 0
        self.keys = ("harness", "harness")

    def behaviour_of_task_def(self, task_def_arn):
        image = self.task_defs.get(task_def_arn)
        if image is None:
            image = image_of(task_def_arn)
            self.task_defs[task_def_arn] = image
        digest = image.split("@", 1)[1] if "@" in image else image
        return self.behaviours.get(digest, {})


W = World()


def client(service, region=REGION):
    return boto3.client(
        service,
        endpoint_url=W.url,
        region_name=region,
        aws_access_key_id=W.keys[0],
        aws_secret_access_key=W.keys[1],
    )


def image_of(task_def_arn):
    from moto.ecs.models import ecs_backends

    td = ecs_backends[ACCOUNT][REGION].describe_task_definition(task_def_arn)
    return td.container_definitions[0]["image"]


# ---- the lifecycle (harness) ----------------------------------------------------------------
def new_deployment(service_arn, cluster_arn, source_td, target_td, config, desired):
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{cluster_arn.split('/')[-1]}/{service_arn.split('/')[-1]}/{uuid.uuid4().hex[:20]}"
    strategy = (config or {}).get("strategy", "ROLLING")
    d = {
        "arn": arn,
        "service": service_arn,
        "cluster": cluster_arn,
        "source": source_td,
        "target": target_td,
        "config": config or {},
        "strategy": strategy,
        "desired": desired,
        "created": time.time(),
        "status": "PENDING",
        "reason": None,
        "stage": "RECONCILE_SERVICE",
        "stage_at": time.time(),
        "hooks": [],
        "rollback": None,
        "finished": None,
        "weight": 0,  # percent of production traffic on the new release
        "test_on_new": False,
        "new_running": 0,
        "pending_action": None,
        "breaker": "MONITORING",
        "alarms": "MONITORING" if (config or {}).get("alarms", {}).get("enable") else "DISABLED",
    }
    # A deployment in progress is replaced, as ECS does: it is stopped and the new one takes over.
    for other in W.deployments.values():
        if other["service"] == service_arn and other["finished"] is None:
            other["status"] = "STOPPED"
            other["reason"] = "replaced by a newer deployment"
            other["finished"] = time.time()
    W.deployments[arn] = d
    return d


def hooks_for(d, stage):
    return [
        h
        for h in d["config"].get("lifecycleHooks", []) or []
        if stage in (h.get("lifecycleStages") or [])
    ]


def enter(d, stage):
    d["stage"] = stage
    d["stage_at"] = time.time()
    d["hooks"] = []
    for h in hooks_for(d, stage):
        W.hook_seq += 1
        timeout = h.get("timeoutConfiguration") or {}
        minutes = timeout.get("timeoutInMinutes", 60)
        d["hooks"].append(
            {
                "hookId": f"hook-{W.hook_seq}",
                "targetType": h.get("targetType", "PAUSE"),
                "status": "AWAITING_ACTION",
                "expiresAt": time.time() + minutes * MINUTE,
                "timeoutAction": timeout.get("action", "ROLLBACK"),
            }
        )


def set_weights(d, new_percent):
    """Shifts the production listener rule (moto's ELBv2 state) to `new_percent` on the new tg."""
    d["weight"] = new_percent
    d["max_weight"] = max(d.get("max_weight", 0), new_percent)
    svc = W.services[d["service"]]
    old_tg, new_tg = svc["prod_tg"], svc["alt_tg"]
    client("elbv2").modify_rule(
        RuleArn=svc["prod_rule"],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": old_tg, "Weight": 100 - new_percent},
                        {"TargetGroupArn": new_tg, "Weight": new_percent},
                    ]
                },
            }
        ],
    )


def set_test_rule(d, on_new):
    d["test_on_new"] = on_new
    svc = W.services[d["service"]]
    tg = svc["alt_tg"] if on_new else svc["prod_tg"]
    client("elbv2").modify_rule(
        RuleArn=svc["test_rule"], Actions=[{"Type": "forward", "TargetGroupArn": tg}]
    )


def alarm_firing(d):
    alarms = d["config"].get("alarms") or {}
    if not alarms.get("enable"):
        return None
    backend = cloudwatch_backends[ACCOUNT][REGION]
    for name in alarms.get("alarmNames", []):
        alarm = backend.alarms.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            return name
    return None


def start_rollback(d, reason, requested=False):
    d["status"] = "ROLLBACK_REQUESTED" if requested else "ROLLBACK_IN_PROGRESS"
    d["rollback"] = {"reason": reason, "startedAt": time.time(), "serviceRevisionArn": d["source"]}
    d["stage_at"] = time.time()
    d["hooks"] = []


def finish(d, status, reason=None):
    d["status"] = status
    if reason:
        d["reason"] = reason
    d["finished"] = time.time()
    d["hooks"] = []


def tick_deployment(d):
    now = time.time()
    beh_new = W.behaviour_of_task_def(d["target"])
    in_stage = now - d["stage_at"]
    if d["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
        d["status"] = "ROLLBACK_IN_PROGRESS"
        if in_stage >= STEP:
            if d["strategy"] != "ROLLING":
                set_weights(d, 0)
                set_test_rule(d, False)
            d["weight"] = 0
            d["new_running"] = 0
            set_service_task_def(d, d["source"])
            finish(d, "ROLLBACK_SUCCESSFUL")
        return
    if d["status"] == "STOP_REQUESTED":
        finish(d, "STOPPED")
        return
    if d["status"] == "PENDING":
        d["status"] = "IN_PROGRESS"
        enter(d, "PRE_SCALE_UP")
        return
    # Alarms and the circuit breaker watch the whole deployment.
    firing = alarm_firing(d)
    if firing and d["stage"] not in ("PRE_SCALE_UP", "CLEAN_UP"):
        d["alarms"] = "TRIGGERED"
        if (d["config"].get("alarms") or {}).get("rollback", False):
            start_rollback(d, f"CloudWatch alarm {firing} is in ALARM state")
        else:
            finish(d, "FAILED", f"CloudWatch alarm {firing} is in ALARM state")
        return
    # A pause: wait for ContinueServiceDeployment, or time out.
    waiting = [h for h in d["hooks"] if h["status"] == "AWAITING_ACTION"]
    for h in waiting:
        if now > h["expiresAt"]:
            h["status"] = "TIMED_OUT"
            if h["timeoutAction"] == "ROLLBACK":
                start_rollback(d, f"lifecycle hook {h['hookId']} timed out")
                return
            h["status"] = "SUCCEEDED"
    if any(h["status"] == "AWAITING_ACTION" for h in d["hooks"]):
        return
    stage = d["stage"]
    if in_stage < STEP:
        return
    if stage == "PRE_SCALE_UP":
        enter(d, "SCALE_UP")
    elif stage == "SCALE_UP":
        if beh_new.get("start") == "crash":
            breaker = d["config"].get("deploymentCircuitBreaker") or {}
            if in_stage >= 4 * STEP and breaker.get("enable"):
                d["breaker"] = "TRIGGERED"
                reason = "ECS deployment circuit breaker: tasks failed to start."
                if breaker.get("rollback"):
                    start_rollback(d, reason)
                else:
                    finish(d, "FAILED", reason)
            return
        if beh_new.get("start") == "stuck":
            return  # tasks stay PROVISIONING: only a time-out ends this
        d["new_running"] = d["desired"]
        if d["strategy"] == "ROLLING":
            # Old and new tasks share the production target group while old ones drain.
            d["weight"] = 100
            set_service_task_def(d, d["target"])
            enter(d, "BAKE_TIME")
        else:
            enter(d, "POST_SCALE_UP")
    elif stage == "POST_SCALE_UP":
        enter(d, "TEST_TRAFFIC_SHIFT")
    elif stage == "TEST_TRAFFIC_SHIFT":
        set_test_rule(d, True)
        enter(d, "POST_TEST_TRAFFIC_SHIFT")
    elif stage == "POST_TEST_TRAFFIC_SHIFT":
        enter(d, "PRODUCTION_TRAFFIC_SHIFT")
        d["shift_step"] = 0
    elif stage == "PRODUCTION_TRAFFIC_SHIFT":
        if d["strategy"] == "CANARY":
            canary = d["config"].get("canaryConfiguration") or {}
            percent = int(canary.get("canaryPercent", 10))
            bake = canary.get("canaryBakeTimeInMinutes", 10) * MINUTE
            if d["weight"] == 0:
                set_weights(d, percent)
                d["shift_at"] = now
                return
            if d["weight"] < 100 and now - d["shift_at"] < bake:
                return
        elif d["strategy"] == "LINEAR":
            linear = d["config"].get("linearConfiguration") or {}
            step = int(linear.get("stepPercent", 10))
            bake = linear.get("stepBakeTimeInMinutes", 6) * MINUTE
            if d["weight"] < 100:
                if d["weight"] == 0 or now - d.get("shift_at", 0) >= bake:
                    set_weights(d, min(100, d["weight"] + step))
                    d["shift_at"] = now
                return
        set_weights(d, 100)
        enter(d, "POST_PRODUCTION_TRAFFIC_SHIFT")
    elif stage == "POST_PRODUCTION_TRAFFIC_SHIFT":
        enter(d, "BAKE_TIME")
    elif stage == "BAKE_TIME":
        bake = d["config"].get("bakeTimeInMinutes", 0) * MINUTE
        if d["strategy"] == "ROLLING":
            bake = max(bake, 4 * STEP)
        if in_stage >= bake:
            enter(d, "CLEAN_UP")
    elif stage == "CLEAN_UP":
        if d["strategy"] != "ROLLING":
            svc = W.services[d["service"]]
            # The target groups swap roles, as ECS's blue/green does.
            svc["prod_tg"], svc["alt_tg"] = svc["alt_tg"], svc["prod_tg"]
            set_service_task_def(d, d["target"])
        finish(d, "SUCCESSFUL")


def set_service_task_def(d, task_def):
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[ACCOUNT][REGION]
    cluster = d["cluster"].split("/")[-1]
    name = d["service"].split("/")[-1]
    svc = backend.services.get(f"{cluster}:{name}")
    if svc is not None:
        svc.task_definition = task_def
    W.services[d["service"]]["task_def"] = task_def


# ---- traffic and metrics (harness) ----------------------------------------------------------
def tg_dimension(arn):
    return "targetgroup/" + arn.split(":targetgroup/")[1]


def lb_dimension(arn):
    return "app/" + arn.split(":loadbalancer/app/")[1]


def traffic_tick(seconds):
    backend = cloudwatch_backends[ACCOUNT][REGION]
    stamp = datetime.now(timezone.utc).replace(tzinfo=None)
    for svc_arn, svc in W.services.items():
        live = [d for d in W.deployments.values() if d["service"] == svc_arn and d["finished"] is None]
        d = live[-1] if live else None
        old = W.behaviour_of_task_def(svc["task_def"])
        flows = []  # (target group, share, behaviour)
        if d is None or d["strategy"] == "ROLLING" or d["weight"] == 0:
            share_new = (d["weight"] / 100.0) if d is not None and d["strategy"] == "ROLLING" else 0.0
            new = W.behaviour_of_task_def(d["target"]) if d is not None else old
            flows.append((svc["prod_tg"], 1.0 - share_new, old))
            if share_new:
                flows.append((svc["prod_tg"], share_new, new))
        else:
            new = W.behaviour_of_task_def(d["target"])
            flows.append((svc["prod_tg"], 1.0 - d["weight"] / 100.0, old))
            flows.append((svc["alt_tg"], d["weight"] / 100.0, new))
        for tg, share, beh in flows:
            n = int(round(W.rps * seconds * share))
            if n <= 0:
                continue
            errors = sum(1 for _ in range(n) if random.random() < beh.get("error_rate", 0.0))
            latency = beh.get("latency", 0.05)
            samples = [latency * (0.5 + random.random() * 0.5) for _ in range(min(n, 50))]
            dims = [
                {"Name": "LoadBalancer", "Value": lb_dimension(svc["lb"])},
                {"Name": "TargetGroup", "Value": tg_dimension(tg)},
            ]
            backend.put_metric_data(
                "AWS/ApplicationELB",
                [
                    {"MetricName": "RequestCount", "Dimensions": dims, "Value": n, "Timestamp": stamp, "Unit": "Count"},
                    {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Value": errors, "Timestamp": stamp, "Unit": "Count"},
                    {"MetricName": "TargetResponseTime", "Dimensions": dims, "Values": samples, "Timestamp": stamp, "Unit": "Seconds"},
                ],
            )


def simulator():
    last = time.time()
    while True:
        time.sleep(0.05)
        with LOCK:
            try:
                for d in list(W.deployments.values()):
                    if d["finished"] is None:
                        tick_deployment(d)
                now = time.time()
                if now - last >= 0.5:
                    traffic_tick(now - last)
                    last = now
            except Exception as e:  # a harness bug must show, not stop the clock
                print(f"harness simulator error: {e!r}", file=sys.stderr, flush=True)


# ---- ECS deployment API (harness) -----------------------------------------------------------
def deployment_json(d):
    out = {
        "serviceDeploymentArn": d["arn"],
        "serviceArn": d["service"],
        "clusterArn": d["cluster"],
        "createdAt": d["created"],
        "startedAt": d["created"],
        "updatedAt": time.time(),
        "sourceServiceRevisions": [
            {"arn": d["source"], "requestedTaskCount": d["desired"], "runningTaskCount": d["desired"], "pendingTaskCount": 0}
        ],
        "targetServiceRevision": {
            "arn": d["target"],
            "requestedTaskCount": d["desired"],
            "runningTaskCount": d["new_running"],
            "pendingTaskCount": d["desired"] - d["new_running"],
        },
        "status": d["status"],
        "lifecycleStage": d["stage"],
        "deploymentConfiguration": d["config"],
        "deploymentCircuitBreaker": {"status": d["breaker"], "failureCount": 0, "threshold": 3},
        "alarms": {"status": d["alarms"], "alarmNames": (d["config"].get("alarms") or {}).get("alarmNames", [])},
        "lifecycleHookDetails": [
            {k: v for k, v in h.items() if k != "expiresAt"} | {"expiresAt": h["expiresAt"]}
            for h in d["hooks"]
        ],
    }
    if d["reason"]:
        out["statusReason"] = d["reason"]
    if d["finished"]:
        out["finishedAt"] = d["finished"]
    if d["rollback"]:
        out["rollback"] = d["rollback"]
    return out


def ecs_deployment_api(action, body):
    if action == "ListServiceDeployments":
        service = body.get("service", "")
        statuses = body.get("status")
        found = [
            d
            for d in W.deployments.values()
            if (d["service"] == service or d["service"].endswith("/" + service))
            and (not statuses or d["status"] in statuses)
        ]
        found.sort(key=lambda d: d["created"], reverse=True)
        return 200, {
            "serviceDeployments": [
                {
                    "serviceDeploymentArn": d["arn"],
                    "serviceArn": d["service"],
                    "clusterArn": d["cluster"],
                    "createdAt": d["created"],
                    "startedAt": d["created"],
                    "targetServiceRevisionArn": d["target"],
                    "status": d["status"],
                }
                | ({"statusReason": d["reason"]} if d["reason"] else {})
                | ({"finishedAt": d["finished"]} if d["finished"] else {})
                for d in found
            ]
        }
    if action == "DescribeServiceDeployments":
        arns = body.get("serviceDeploymentArns", [])
        return 200, {
            "serviceDeployments": [deployment_json(W.deployments[a]) for a in arns if a in W.deployments],
            "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in W.deployments],
        }
    d = W.deployments.get(body.get("serviceDeploymentArn", ""))
    if d is None:
        return 400, {"__type": "ServiceDeploymentNotFoundException", "message": "no such service deployment"}
    if action == "StopServiceDeployment":
        if d["finished"] is not None:
            return 400, {"__type": "ConflictException", "message": f"the deployment is already {d['status']}"}
        if body.get("stopType", "ROLLBACK") == "ROLLBACK":
            start_rollback(d, "StopServiceDeployment(ROLLBACK) requested", requested=True)
        else:
            d["status"] = "STOP_REQUESTED"
        return 200, {"serviceDeploymentArn": d["arn"]}
    if action == "ContinueServiceDeployment":
        hook = next((h for h in d["hooks"] if h["hookId"] == body.get("hookId")), None)
        if hook is None or hook["status"] != "AWAITING_ACTION":
            return 400, {"__type": "InvalidParameterException", "message": "no hook awaiting action with that id"}
        if body.get("action") == "ROLLBACK":
            hook["status"] = "FAILED"
            start_rollback(d, f"lifecycle hook {hook['hookId']} answered ROLLBACK", requested=True)
        else:
            hook["status"] = "SUCCEEDED"
        return 200, {"serviceDeploymentArn": d["arn"]}
    return 400, {"__type": "InvalidParameterException", "message": action}


def target_health_xml(tg_arn):
    members = []
    for svc in W.services.values():
        live = [d for d in W.deployments.values() if d["service"] in W.services and d["finished"] is None and W.services[d["service"]] is svc]
        d = live[-1] if live else None
        if tg_arn == svc["prod_tg"]:
            beh = W.behaviour_of_task_def(svc["task_def"])
            count = svc["desired"]
            if d is not None and d["strategy"] == "ROLLING" and d["new_running"]:
                beh = W.behaviour_of_task_def(d["target"])
        elif tg_arn == svc["alt_tg"] and d is not None and d["strategy"] != "ROLLING":
            beh = W.behaviour_of_task_def(d["target"])
            count = d["new_running"]
        else:
            continue
        state = "unhealthy" if beh.get("health") == "failing" else "healthy"
        for i in range(count):
            reason = "<Reason>Target.ResponseCodeMismatch</Reason><Description>Health checks failed with these codes: [503]</Description>" if state == "unhealthy" else ""
            members.append(
                f"<member><Target><Id>10.0.{i // 250}.{i % 250 + 4}</Id><Port>8080</Port></Target>"
                f"<HealthCheckPort>8080</HealthCheckPort><TargetHealth><State>{state}</State>{reason}</TargetHealth></member>"
            )
    return (
        '<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<DescribeTargetHealthResult><TargetHealthDescriptions>{''.join(members)}</TargetHealthDescriptions></DescribeTargetHealthResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"
    )


def listener_status(kind, path):
    """The test (`test`) or production (`prod`) listener, answering as its release would."""
    for svc_arn, svc in W.services.items():
        live = [d for d in W.deployments.values() if d["service"] == svc_arn and d["finished"] is None]
        d = live[-1] if live else None
        beh = W.behaviour_of_task_def(svc["task_def"])
        if d is not None and d["strategy"] != "ROLLING":
            if (kind == "test" and d["test_on_new"]) or (kind == "prod" and random.random() * 100 < d["weight"]):
                beh = W.behaviour_of_task_def(d["target"])
        if beh.get("smoke") == "failing" and path != "/health/live":
            return 500
        return 200
    return 503


# ---- setup (harness, through moto's real APIs) -----------------------------------------------
def setup(spec):
    env = spec.get("env", "staging")
    name = f"tm-{env}"
    # moto's own IAM checks: from here on only this deployer's key is accepted.
    iam = client("iam")
    iam.create_user(UserName=f"{name}-deployer")
    iam.put_user_policy(
        UserName=f"{name}-deployer",
        PolicyName="deploy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    key = iam.create_access_key(UserName=f"{name}-deployer")["AccessKey"]
    W.keys = (key["AccessKeyId"], key["SecretAccessKey"])
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    desired = int(spec.get("desired", 2))
    ecr = client("ecr")
    ecr.create_repository(repositoryName=name)
    digests = {}
    for tag, beh in spec.get("images", {}).items():
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [{"digest": "sha256:" + uuid.uuid4().hex * 2, "size": 1024}]})
        image = ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag=tag)["image"]
        digest = image["imageId"]["imageDigest"]
        W.behaviours[digest] = beh
        digests[tag] = digest
    repo_uri = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"]
    secret = client("secretsmanager").create_secret(Name=f"{name}/database-url", SecretString="postgres://app@db/tm")["ARN"]
    s3 = client("s3")
    s3.create_bucket(Bucket=f"{name}-deploy-state", CreateBucketConfiguration={"LocationConstraint": REGION})
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
    # The environment's database (moto's RDS: instances, snapshots, cross-region copies and
    # restores; it makes each at once and does not check a time against a real restore window),
    # encrypted with its customer-managed key, and the DR region's key for the copies.
    db_key = client("kms").create_key(Description="database")["KeyMetadata"]["Arn"]
    dr_key = client("kms", DR_REGION).create_key(Description="backups in the DR region")["KeyMetadata"]["Arn"]
    rds = client("rds")
    db_sg = ec2.create_security_group(GroupName=f"{name}-db", Description="db", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="db", SubnetIds=subnets)
    rds.create_db_instance(
        DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="postgres", ManageMasterUserPassword=True, DBSubnetGroupName=name,
        VpcSecurityGroupIds=[db_sg], EnableIAMDatabaseAuthentication=True, BackupRetentionPeriod=30,
        DBName="marketplace", StorageEncrypted=True, KmsKeyId=db_key,
    )
    elb = client("elbv2")
    lb = elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {}
    for colour in ("blue", "green"):
        tgs[colour] = elb.create_target_group(
            Name=f"{name}-{colour}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip", HealthCheckPath="/health/ready"
        )["TargetGroups"][0]["TargetGroupArn"]
    prod = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    test = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8443, DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tgs["blue"], "Weight": 100}, {"TargetGroupArn": tgs["green"], "Weight": 0}]}}
    prod_rule = elb.create_rule(ListenerArn=prod, Priority=1, Conditions=[{"Field": "path-pattern", "Values": ["/*"]}], Actions=[forward])["Rules"][0]["RuleArn"]
    test_rule = elb.create_rule(ListenerArn=test, Priority=1, Conditions=[{"Field": "path-pattern", "Values": ["/*"]}], Actions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}])["Rules"][0]["RuleArn"]
    cw = client("cloudwatch")
    alarms = []
    for colour, tg in tgs.items():
        for kind, metric, stat, threshold in (("5xx", "HTTPCode_Target_5XX_Count", "Sum", 5.0), ("latency", "TargetResponseTime", "p95", 10.0)):
            alarm = f"{name}-{kind}-{colour}"
            args = dict(AlarmName=alarm, Namespace="AWS/ApplicationELB", MetricName=metric, Period=60, EvaluationPeriods=2, Threshold=threshold, ComparisonOperator="GreaterThanThreshold",
                        Dimensions=[{"Name": "TargetGroup", "Value": tg_dimension(tg)}, {"Name": "LoadBalancer", "Value": lb_dimension(lb)}])
            if stat.startswith("p"):
                args["ExtendedStatistic"] = stat
            else:
                args["Statistic"] = stat
            cw.put_metric_alarm(**args)
            alarms.append(alarm)
    ecs = client("ecs")
    cluster = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
    first = spec.get("live", "v1")
    td = ecs.register_task_definition(
        family=name,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-execution",
        containerDefinitions=[
            {
                "name": "marketplace",
                "image": f"{repo_uri}@{digests[first]}",
                "essential": True,
                "memory": 1024,
                "portMappings": [{"containerPort": 8080}],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": secret}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": f"/ecs/{name}", "awslogs-region": REGION, "awslogs-stream-prefix": "marketplace"}},
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    W.task_defs[td] = f"{repo_uri}@{digests[first]}"
    role = f"arn:aws:iam::{ACCOUNT}:role/{name}-ecs-infrastructure"
    service = ecs.create_service(
        cluster=name,
        serviceName=name,
        taskDefinition=td,
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}},
        loadBalancers=[
            {
                "targetGroupArn": tgs["blue"],
                "containerName": "marketplace",
                "containerPort": 8080,
                "advancedConfiguration": {"alternateTargetGroupArn": tgs["green"], "productionListenerRule": prod_rule, "testListenerRule": test_rule, "roleArn": role},
            }
        ],
        deploymentConfiguration={"strategy": spec.get("strategy", "ROLLING"), "deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200, "minimumHealthyPercent": 100},
    )["service"]["serviceArn"]
    W.services[service] = {"prod_tg": tgs["blue"], "alt_tg": tgs["green"], "prod_rule": prod_rule, "test_rule": test_rule, "lb": lb, "task_def": td, "desired": desired}
    return {
        "region": REGION,
        "cluster": name,
        "service": name,
        "repository": repo_uri,
        "digests": digests,
        "bucket": f"{name}-deploy-state",
        "alarms": alarms,
        "task_definition": td,
        "secret": secret,
        "secret_name": f"{name}/database-url",
        "db_instance": name,
        "db_kms_key": db_key,
        "dr_region": DR_REGION,
        "dr_kms_key": dr_key,
        "db_security_group": db_sg,
        "target_groups": tgs,
        "access_key_id": W.keys[0],
        "secret_access_key": W.keys[1],
        "test_url": f"{W.url}/_sim/test",
        "public_url": f"{W.url}/_sim/prod",
    }


# ---- the WSGI front ---------------------------------------------------------------------------
def respond(start_response, status, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "OK")
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Front:
    def __init__(self, moto_app):
        self.moto = moto_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/_harness/"):
            return self.control(path, body, start_response)
        if path.startswith("/_sim/"):
            kind, _, rest = path[len("/_sim/"):].partition("/")
            with LOCK:
                return respond(start_response, listener_status(kind, "/" + rest), b"simulated listener", "text/plain")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.split(".")[-1] if target else ""
        if not action and body[:7] == b"Action=":
            action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
        agent = environ.get("HTTP_USER_AGENT", "")
        if "aws-sdk-rust" in agent or "object_store" in agent:
            service = target.split("_")[0].split(".")[0] if target else environ.get("HTTP_AUTHORIZATION", "").split("/")[3] if "/" in environ.get("HTTP_AUTHORIZATION", "") else "?"
            label = action or f"{environ.get('REQUEST_METHOD')} {path}"
            with LOCK:
                W.calls.append({"at": round(time.time() - W.started, 3), "service": service, "call": label})
        if action in ("ListServiceDeployments", "DescribeServiceDeployments", "StopServiceDeployment", "ContinueServiceDeployment"):
            with LOCK:
                status, out = ecs_deployment_api(action, json.loads(body or b"{}"))
            return respond(start_response, status, out, "application/x-amz-json-1.1")
        if action == "DescribeTargetHealth":
            tg = urllib.parse.parse_qs(body.decode()).get("TargetGroupArn", [""])[0]
            with LOCK:
                return respond(start_response, 200, target_health_xml(tg), "text/xml")
        if action == "UpdateService" and target.startswith("AmazonEC2ContainerService"):
            return self.update_service(environ, body, start_response)
        if action == "DescribeServices" and target.startswith("AmazonEC2ContainerService"):
            return self.describe_services(environ, start_response)
        if action in ("RunTask", "DescribeTasks") and target.startswith("AmazonEC2ContainerService"):
            return self.tasks(action, environ, body, start_response)
        return self.moto(environ, start_response)

    def passthrough(self, environ):
        captured = {}

        def sr(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        out = b"".join(self.moto(environ, sr))
        return captured["status"], captured["headers"], out

    def update_service(self, environ, body, start_response):
        request = json.loads(body or b"{}")
        with LOCK:
            status, headers, out = self.passthrough(environ)
            if status.startswith("200"):
                svc = json.loads(out)["service"]
                arn = svc["serviceArn"]
                known = W.services.get(arn)
                new_td = request.get("taskDefinition")
                if known is not None and new_td and new_td != known["task_def"]:
                    if "desiredCount" in request:
                        known["desired"] = int(request["desiredCount"])
                    source = known["task_def"]
                    new_deployment(arn, svc["clusterArn"], source, new_td, svc.get("deploymentConfiguration"), known["desired"])
                    # moto switched the service at once; ECS keeps the source until it succeeds.
                    set_service_task_def({"cluster": svc["clusterArn"], "service": arn}, source)
                    svc["taskDefinition"] = source
                    out = json.dumps({"service": svc}).encode()
        start_response(status, [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(out)))])
        return [out]

    def describe_services(self, environ, start_response):
        """moto never starts tasks: the simulated ones are the service's running count."""
        with LOCK:
            status, headers, out = self.passthrough(environ)
            if status.startswith("200"):
                reply = json.loads(out)
                for svc in reply.get("services", []):
                    known = W.services.get(svc.get("serviceArn"))
                    if known is not None:
                        svc["runningCount"] = known["desired"]
                out = json.dumps(reply).encode()
        start_response(status, [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(out)))])
        return [out]

    def tasks(self, action, environ, body, start_response):
        request = json.loads(body or b"{}")
        with LOCK:
            status, headers, out = self.passthrough(environ)
            if status.startswith("200"):
                reply = json.loads(out)
                for task in reply.get("tasks", []):
                    arn = task["taskArn"]
                    if action == "RunTask":
                        beh = W.behaviour_of_task_def(task["taskDefinitionArn"])
                        W.one_off[arn] = (time.time(), int(beh.get("migrate_exit", 0)))
                    if arn in W.one_off:
                        began, code = W.one_off[arn]
                        done = time.time() - began > 2 * STEP
                        task["lastStatus"] = "STOPPED" if done else "RUNNING"
                        task["containers"] = [
                            {"name": "marketplace", "lastStatus": task["lastStatus"], "taskArn": arn}
                            | ({"exitCode": code} if done else {})
                        ]
                        if done:
                            task["stoppedReason"] = "Essential container in task exited"
                out = json.dumps(reply).encode()
        start_response(status, [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(out)))])
        return [out]

    def control(self, path, body, start_response):
        request = json.loads(body or b"{}")
        with LOCK:
            if path == "/_harness/setup":
                return respond(start_response, 200, setup(request))
            if path == "/_harness/calls":
                return respond(start_response, 200, W.calls)
            if path == "/_harness/traffic":
                W.rps = float(request["rps"])
                return respond(start_response, 200, {"rps": W.rps})
            if path == "/_harness/deployments":
                return respond(
                    start_response,
                    200,
                    [deployment_json(d) | {"harness": {"maxWeight": d.get("max_weight", 0), "weight": d["weight"]}} for d in W.deployments.values()],
                )
        return respond(start_response, 404, {"error": path})


def main():
    port = int(sys.argv[1])
    W.url = f"http://127.0.0.1:{port}"
    app = Front(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=simulator, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
