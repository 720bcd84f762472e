#!/usr/bin/env python3
"""Checks deploy/ the way the tests can without a cluster or a Docker engine.

  check_deploy.py manifests SRC      yamllint, then the Kubernetes manifests' structure and
                                     cross-references (selectors, ports, probes, Secret and
                                     ConfigMap references, the image's user, the flags)
  check_deploy.py prometheus SRC     promtool check config / check rules / test rules
  check_deploy.py dashboard SRC      the Grafana dashboard's structure and PromQL
  check_deploy.py compose SRC        docker-compose config, and the files it mounts
  check_deploy.py live SRC BIN_DIR   the ConfigMap's flags and the migration Job's command run
                                     against the test PostgreSQL; every metric the alerts and
                                     the dashboard use, and the README documents, is one a
                                     real server exports
Exits non-zero with one line per problem.
"""
import json
import os
import re
import shutil
import signal
import base64
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)
    print("deploy: " + msg)


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------------------------------
# Kubernetes

API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "Deployment": "apps/v1", "Job": "batch/v1", "PodDisruptionBudget": "policy/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "NetworkPolicy": "networking.k8s.io/v1",
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?$")
SCALE = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2,
         "Gi": 1024**3, "Ti": 1024**4}


def quantity(q, where):
    m = QUANTITY.match(str(q))
    if not m:
        problem(f"{where}: '{q}' is not a Kubernetes quantity")
        return 0.0
    return float(m.group(1)) * SCALE[m.group(2)]


def kustomize_objects(src):
    k8s = os.path.join(src, "deploy/k8s")
    kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
    files = sorted(f for f in os.listdir(k8s) if f.endswith(".yaml") and f != "kustomization.yaml")
    if sorted(kust.get("resources", [])) != files:
        problem(f"kustomization.yaml resources {sorted(kust.get('resources', []))} != files {files}")
    objs = []
    for f in files:
        for d in load_all(os.path.join(k8s, f)):
            d["_file"] = f
            objs.append(d)
    return kust, objs


def flag_lines(configmap):
    out = {}
    for line in configmap["data"]["flags"].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^--([a-z_]+)=(.*)$", line)
        if not m:
            problem(f"configmap flags: '{line}' is not --name=value")
            continue
        out[m.group(1)] = m.group(2)
    return out


def dockerfile_uid(src):
    text = open(os.path.join(src, "Dockerfile")).read()
    runtime = text[text.index(" AS runtime"):]
    m = re.search(r"^USER (\d+)(?::(\d+))?$", runtime, re.M)
    if not m:
        problem("Dockerfile: the runtime stage sets no numeric USER")
        return None, None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def check_pod(obj, by_kind, uid_gid, src):
    where = f"{obj['_file']} {obj['kind']}/{obj['metadata']['name']}"
    pod = obj["spec"]["template"]["spec"]
    sc = pod.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True:
        problem(f"{where}: pod securityContext.runAsNonRoot must be true")
    uid, gid = uid_gid
    if uid is not None and sc.get("runAsUser") != uid:
        problem(f"{where}: runAsUser {sc.get('runAsUser')} != the image's USER {uid}")
    if gid is not None and sc.get("runAsGroup") != gid:
        problem(f"{where}: runAsGroup {sc.get('runAsGroup')} != the image's group {gid}")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    readme = open(os.path.join(src, "README.md")).read()
    for v in volumes.values():
        if "configMap" in v and v["configMap"]["name"] not in by_kind["ConfigMap"]:
            problem(f"{where}: volume {v['name']} names a missing ConfigMap {v['configMap']['name']}")
        # A Secret volume is either in the kustomization or made by a command the README
        # shows (certificates are not placeholders one can commit).
        if "secret" in v:
            name = v["secret"]["secretName"]
            if name not in by_kind["Secret"] and f"create secret generic {name}" not in readme:
                problem(f"{where}: volume {v['name']} names Secret {name}, which neither the "
                        "kustomization nor a README 'kubectl create secret generic' makes")
    for c in pod["containers"]:
        cw = f"{where} container {c['name']}"
        if c.get("image") != "saasmetrics":
            problem(f"{cw}: image must be 'saasmetrics' (kustomization images: sets the registry)")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    problem(f"{cw}: resources.{kind}.{r} missing")
        for r in ("cpu", "memory"):
            if r in res.get("requests", {}) and r in res.get("limits", {}):
                if quantity(res["requests"][r], cw) > quantity(res["limits"][r], cw):
                    problem(f"{cw}: {r} request above its limit")
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False or csc.get("readOnlyRootFilesystem") is not True:
            problem(f"{cw}: needs allowPrivilegeEscalation: false and readOnlyRootFilesystem: true")
        if csc.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(f"{cw}: must drop ALL capabilities")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = by_kind["Secret"].get(ref["name"])
                if secret is None or ref["key"] not in secret.get("stringData", secret.get("data", {})):
                    problem(f"{cw}: env {e['name']} names missing Secret key {ref['name']}/{ref['key']}")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problem(f"{cw}: volumeMount {m['name']} names no volume")
        ports = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
        names = {n for n in ports.values() if n}
        for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = c.get(probe_name)
            if probe is None:
                continue
            for kind in ("grpc", "httpGet", "tcpSocket"):
                if kind in probe:
                    port = probe[kind]["port"]
                    if port not in ports and port not in names:
                        problem(f"{cw}: {probe_name} port {port} is not a container port")
    return pod


def check_manifests(src):
    r = run(["yamllint", "-s", "-c", os.path.join(src, "deploy/.yamllint"), os.path.join(src, "deploy")])
    if r.returncode != 0:
        problem("yamllint:\n" + r.stdout)
    kust, objs = kustomize_objects(src)
    by_kind = {k: {} for k in API_VERSIONS}
    for o in objs:
        kind, name = o.get("kind"), o.get("metadata", {}).get("name", "")
        if kind not in API_VERSIONS:
            problem(f"{o['_file']}: unexpected kind {kind}")
            continue
        if o.get("apiVersion") != API_VERSIONS[kind]:
            problem(f"{o['_file']}: {kind} must be {API_VERSIONS[kind]}, not {o.get('apiVersion')}")
        if not DNS_LABEL.match(name):
            problem(f"{o['_file']}: {kind} name '{name}' is not a DNS label")
        if name in by_kind[kind]:
            problem(f"{o['_file']}: two {kind}s named {name}")
        by_kind[kind][name] = o
    if list(by_kind["Namespace"]) != [kust.get("namespace")]:
        problem(f"the Namespace object {list(by_kind['Namespace'])} != kustomization namespace {kust.get('namespace')}")
    if [i.get("name") for i in kust.get("images", [])] != ["saasmetrics"]:
        problem("kustomization images must map the image name 'saasmetrics'")

    uid_gid = dockerfile_uid(src)
    deployment = by_kind["Deployment"].get("saasmetrics")
    if deployment is None:
        problem("no Deployment named saasmetrics")
        return
    pod = check_pod(deployment, by_kind, uid_gid, src)
    labels = deployment["spec"]["template"]["metadata"]["labels"]

    def selects(selector):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    if not selects(deployment["spec"]["selector"]["matchLabels"]):
        problem("Deployment selector does not match its pod template's labels")
    server = next(c for c in pod["containers"] if c["name"] == "server")
    port_names = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}

    # Readiness follows the whole server's health (""), liveness the "liveness" service
    # the server registers.
    rpc = open(os.path.join(src, "server/rpc/server.cc")).read()
    live = re.search(r'kLivenessService\[\] = "([^"]+)"', rpc)
    if server.get("readinessProbe", {}).get("grpc", {}).get("service", "") != "":
        problem("server readinessProbe must check gRPC health of the whole server (service \"\")")
    if live is None or server.get("livenessProbe", {}).get("grpc", {}).get("service") != live.group(1):
        problem("server livenessProbe must check the 'liveness' health service server.cc registers")

    # The flags: mounted where --flagfile points, listening on the declared ports.
    cm = by_kind["ConfigMap"].get("saasmetrics-flags")
    flags = flag_lines(cm) if cm else {}
    flagfile = next((a.split("=", 1)[1] for a in server.get("args", []) if a.startswith("--flagfile=")), None)
    mounted = [os.path.join(m["mountPath"], "flags") for m in server.get("volumeMounts", [])]
    if flagfile is None or flagfile not in mounted:
        problem(f"server --flagfile={flagfile} is not where the ConfigMap is mounted ({mounted})")
    for flag, port_name in (("grpc_address", "grpc"), ("metrics_address", "metrics"),
                            ("health_address", "health")):
        port = int(flags.get(flag, ":0").rsplit(":", 1)[1])
        if port_names.get(port_name) != port:
            problem(f"--{flag}={flags.get(flag)} does not listen on container port '{port_name}'")
    # Kubelet's gRPC probes speak plain text: with TLS on, they go to the health port.
    if "tls_cert_file" in flags:
        for probe_name in ("readinessProbe", "livenessProbe"):
            port = server.get(probe_name, {}).get("grpc", {}).get("port")
            if port not in (port_names.get("health"), "health"):
                problem(f"server {probe_name} must use the plaintext health port when TLS is on")
        tls_mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        for flag in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            if flag in flags and os.path.dirname(flags[flag]) not in tls_mounts:
                problem(f"--{flag}={flags[flag]} is not in a mounted volume")
        gateway = next((c for c in pod["containers"] if c["name"] == "gateway"), None)
        if gateway and not any(a.startswith("--backend_tls_ca_file=") for a in gateway.get("args", [])):
            problem("the server speaks TLS but the gateway sidecar does not (--backend_tls_ca_file)")
    # The NetworkPolicy selects the pods and names only ports they have; every container
    # port is let in by some rule (else that port is dead).
    for name, np in by_kind["NetworkPolicy"].items():
        if not selects(np["spec"]["podSelector"].get("matchLabels")):
            problem(f"NetworkPolicy {name} selects no pod of the Deployment")
        allowed = set()
        for rule in np["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                if isinstance(p["port"], str) and p["port"] not in port_names:
                    problem(f"NetworkPolicy {name} names port {p['port']}, which no container has")
                allowed.add(port_names.get(p["port"], p["port"]))
        for pname, number in port_names.items():
            if number not in allowed:
                problem(f"NetworkPolicy {name} lets nobody reach port {pname}")
    if not by_kind["NetworkPolicy"]:
        problem("no NetworkPolicy: every pod in the cluster could reach the service")
    if flags.get("migrate") != "check":
        problem("the servers must run --migrate=check (the migration Job applies the schema)")
    mem_limit = quantity(server["resources"]["limits"]["memory"], "server")
    if mem_limit < int(flags.get("cache_bytes", 0)) + 512 * 1024**2:
        problem("server memory limit leaves under 512 MiB above --cache_bytes")
    grace = int(re.match(r"^(\d+)s$", flags.get("shutdown_grace", "0s")).group(1))
    pre_stop = int(server.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["", "", "0"])[-1])
    if pod.get("terminationGracePeriodSeconds", 30) < grace + pre_stop + 5:
        problem("terminationGracePeriodSeconds must exceed --shutdown_grace plus the preStop pause")

    for name, svc in by_kind["Service"].items():
        if not selects(svc["spec"].get("selector")):
            problem(f"Service {name} selects no pod of the Deployment")
        for p in svc["spec"]["ports"]:
            if p["targetPort"] not in port_names:
                problem(f"Service {name} targetPort {p['targetPort']} is no container port name")
            elif p["port"] != port_names[p["targetPort"]]:
                problem(f"Service {name} port {p['port']} differs from container port {p['targetPort']}")
    for name, pdb in by_kind["PodDisruptionBudget"].items():
        if not selects(pdb["spec"]["selector"]["matchLabels"]):
            problem(f"PodDisruptionBudget {name} selects no pod of the Deployment")
    for name, hpa in by_kind["HorizontalPodAutoscaler"].items():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] != "Deployment" or ref["name"] not in by_kind["Deployment"]:
            problem(f"HorizontalPodAutoscaler {name} scales a missing {ref['kind']}/{ref['name']}")
        lo, hi = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
        if not 1 < lo <= hi:
            problem(f"HorizontalPodAutoscaler {name}: need 2 <= minReplicas <= maxReplicas")
        for pdb in by_kind["PodDisruptionBudget"].values():
            if pdb["spec"].get("maxUnavailable", 0) >= lo:
                problem("the PodDisruptionBudget lets every replica go at once")

    jobs = list(by_kind["Job"].values())
    if len(jobs) != 1:
        problem("expected one migration Job")
    for job in jobs:
        check_pod(job, by_kind, uid_gid, src)
        c = job["spec"]["template"]["spec"]["containers"][0]
        if "--migrate_only" not in c.get("args", []):
            problem("the migration Job must run saasmetrics --migrate_only")
        if job["spec"]["template"]["spec"].get("restartPolicy") not in ("OnFailure", "Never"):
            problem("the migration Job's restartPolicy must be OnFailure or Never")

    # Prometheus finds the pods through the metrics Service's DNS name.
    prom = yaml.safe_load(open(os.path.join(src, "deploy/prometheus/prometheus.yml")))
    sd = prom["scrape_configs"][0]["dns_sd_configs"][0]
    host = sd["names"][0].split(".")
    svc = by_kind["Service"].get(host[0])
    if svc is None or host[1] != kust["namespace"]:
        problem(f"prometheus.yml discovers {sd['names'][0]}, which is no Service in namespace {kust['namespace']}")
    elif svc["spec"].get("clusterIP") != "None" or not svc["spec"].get("publishNotReadyAddresses"):
        problem(f"Service {host[0]} must be headless and publish not-ready pods (they are the ones to alert on)")
    elif sd["port"] != port_names["metrics"]:
        problem("prometheus.yml scrapes a port that is not the metrics port")


# ---------------------------------------------------------------------------------------
# Prometheus, Grafana, compose

def check_prometheus(src):
    prom = os.path.join(src, "deploy/prometheus")
    for argv in (["promtool", "check", "config", os.path.join(prom, "prometheus.yml")],
                 ["promtool", "check", "rules", os.path.join(prom, "alerts.yml")]):
        r = run(argv)
        if r.returncode != 0:
            problem(" ".join(argv[:3]) + ":\n" + r.stdout)
    r = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=prom)
    if r.returncode != 0 or "SUCCESS" not in r.stdout:
        problem("promtool test rules:\n" + r.stdout)
    # Every alert has a unit test.
    alerts = {r["alert"] for g in yaml.safe_load(open(os.path.join(prom, "alerts.yml")))["groups"]
              for r in g["rules"] if "alert" in r}
    tested = {t["alertname"] for case in yaml.safe_load(open(os.path.join(prom, "alerts_test.yml")))["tests"]
              for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    for a in sorted(alerts - tested):
        problem(f"alert {a} has no promtool test in which it fires")
    # The compose Prometheus: its config next to the alerts it mounts.
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(src, "deploy/compose/prometheus.yml"), d)
        shutil.copy(os.path.join(prom, "alerts.yml"), d)
        r = run(["promtool", "check", "config", os.path.join(d, "prometheus.yml")])
        if r.returncode != 0:
            problem("promtool check config deploy/compose/prometheus.yml:\n" + r.stdout)


def dashboard_exprs(src):
    dash = json.load(open(os.path.join(src, "deploy/grafana/saasmetrics.json")))
    return dash, [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def grafana_to_promql(expr):
    return expr.replace("$__rate_interval", "5m").replace("$instance", ".*")


def check_dashboard(src):
    dash, exprs = dashboard_exprs(src)
    if dash.get("uid") != "saasmetrics" or not dash.get("title"):
        problem("dashboard needs uid 'saasmetrics' and a title")
    ids, cells = set(), {}
    variables = {v["name"] for v in dash["templating"]["list"]}
    for p in dash["panels"]:
        if p["id"] in ids:
            problem(f"dashboard panel id {p['id']} repeats")
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            problem(f"panel '{p['title']}' is outside the 24-column grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problem(f"panels '{p['title']}' and '{cells[(x, y)]}' overlap")
                    break
                cells[(x, y)] = p["title"]
        if p["type"] != "row":
            if p.get("datasource", {}).get("uid") != "${datasource}":
                problem(f"panel '{p['title']}' must use the $datasource variable")
            if not p.get("targets"):
                problem(f"panel '{p['title']}' has no query")
    for _, expr in exprs:
        for var in re.findall(r"\$(\w+)", expr):
            if var not in variables and not var.startswith("__"):
                problem(f"dashboard query uses undefined variable ${var}: {expr}")
    # PromQL syntax: promtool parses every query as a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e)} for i, (_, e) in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        r = run(["promtool", "check", "rules", f.name])
        if r.returncode != 0:
            problem("dashboard queries are not valid PromQL:\n" + r.stdout)


def check_compose(src):
    path = os.path.join(src, "deploy/compose/docker-compose.yml")
    r = run(["docker-compose", "-f", path, "config", "-q"])
    if r.returncode != 0:
        problem("docker-compose config:\n" + r.stdout)
    compose = yaml.safe_load(open(path))
    base = os.path.dirname(path)
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            host = v.split(":")[0]
            if host.startswith("."):
                if not os.path.exists(os.path.join(base, host)):
                    problem(f"compose service {name} mounts missing {host}")
    build = compose["services"]["migrate"]["build"]
    if not os.path.exists(os.path.join(base, build["context"], build["dockerfile"])):
        problem("compose builds from a missing Dockerfile")
    for needed in ("postgres", "saasmetrics", "prometheus"):
        if needed not in compose["services"]:
            problem(f"compose has no {needed} service")


# ---------------------------------------------------------------------------------------
# Live: the configuration against a real server and database

METRIC_NAME = re.compile(r"\b((?:grpc_server|saasmetrics|process)_[a-z_]+)\b")


def used_metric_names(src):
    names = set()
    for g in yaml.safe_load(open(os.path.join(src, "deploy/prometheus/alerts.yml")))["groups"]:
        for rule in g["rules"]:
            names |= set(METRIC_NAME.findall(rule["expr"]))
    _, exprs = dashboard_exprs(src)
    for _, e in exprs:
        names |= set(METRIC_NAME.findall(e))
    return names


def exported_series_names(text):
    out = set()
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)", line)
        if m:
            out.add(m.group(1))
            if m.group(2) == "histogram":
                out |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return out


def wait_for(path, pattern, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, open(path).read())
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def check_live(src, bin_dir):
    pg_file = os.environ.get("SAASMETRICS_TEST_PG_FILE")
    if not pg_file:
        problem("SAASMETRICS_TEST_PG_FILE is not set (run through ctest)")
        return
    admin_url = open(pg_file).read().strip()
    db = f"deploy_live_{os.getpid()}"
    r = run(["psql", admin_url, "-qc", f"CREATE DATABASE {db}"])
    if r.returncode != 0:
        problem("cannot create the test database: " + r.stdout)
        return
    url = admin_url.rsplit("/", 1)[0] + "/" + db
    # A throwaway admin key, as the Deployment gets one from its Secret.
    token = "sm_%s_%s" % (secrets.token_hex(8),
                          base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))
    env = dict(os.environ, DATABASE_URL=url, SAASMETRICS_BOOTSTRAP_ADMIN_KEY=token,
               SAASMETRICS_TOKEN=token)
    _, objs = kustomize_objects(src)
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    job = next(o for o in objs if o["kind"] == "Job")
    saasmetrics = os.path.join(bin_dir, "saasmetrics")
    saasctl = os.path.join(bin_dir, "saasctl")
    server = None
    with tempfile.TemporaryDirectory() as d:
        try:
            # The TLS Secret's files, from a throwaway CA, where the flags name them.
            r = run([os.path.join(src, "tests/support/make_certs.sh"), d])
            if r.returncode != 0:
                problem("make_certs.sh failed: " + r.stdout)
                return
            flags = cm["data"]["flags"]
            for secret_key, made in (("tls.crt", "server.pem"), ("tls.key", "server.key"),
                                     ("ca.crt", "ca.pem")):
                flags = flags.replace("/etc/saasmetrics-tls/" + secret_key, os.path.join(d, made))
            if "/etc/saasmetrics-tls/" in flags:
                problem("the ConfigMap names a TLS file this check does not make: " + flags)
            flagfile = os.path.join(d, "flags")
            with open(flagfile, "w") as f:
                f.write(flags)
            # The migration Job's exact command.
            args = job["spec"]["template"]["spec"]["containers"][0]["args"]
            r = run([saasmetrics] + args, env=env, timeout=60)
            if r.returncode != 0 or "schema version" not in r.stdout:
                problem(f"the migration Job's command failed ({r.returncode}): {r.stdout}")
                return
            # The Deployment's flags, with loopback port 0 instead of the pod's fixed ports.
            log_path = os.path.join(d, "server.log")
            log = open(log_path, "w")
            server = subprocess.Popen(
                [saasmetrics, "--flagfile=" + flagfile, "--grpc_address=127.0.0.1:0",
                 "--metrics_address=127.0.0.1:0", "--health_address=127.0.0.1:0"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
            ports = wait_for(log_path, r"grpc_port=(\d+) metrics_port=(\d+) health_port=(\d+)", server, 30)
            if not ports or not wait_for(log_path, r"health SERVING", server, 30):
                problem("the server did not start SERVING with the ConfigMap's flags:\n" + open(log_path).read())
                return
            # The probes' port, in plain text as kubelet asks.
            probe = [saasctl, f"--address=127.0.0.1:{ports.group(3)}", "--timeout=10s"]
            for step in (["health", "--service=liveness"], ["health"]):
                r = run(probe + step, timeout=60, env=env)
                if r.returncode != 0:
                    problem(f"the probe port: saasctl {' '.join(step)} failed: {r.stdout}")
                    return
            # Clients speak mTLS, as the gateway sidecar does.
            ctl = [saasctl, f"--address=127.0.0.1:{ports.group(1)}", "--timeout=10s", "--tls",
                   "--tls_ca_file=" + os.path.join(d, "ca.pem"),
                   "--tls_cert_file=" + os.path.join(d, "client.pem"),
                   "--tls_key_file=" + os.path.join(d, "client.key")]
            plain = run([saasctl, f"--address=127.0.0.1:{ports.group(1)}", "--timeout=5s",
                         "tenants", "list"], timeout=60, env=env)
            if plain.returncode == 0:
                problem("the gRPC port answered a plaintext client")
            steps = [
                ["health", "--service=liveness"], ["health"],
                ["tenants", "create", "deploycheck", "--currency=USD", "--timezone=UTC", "--name=Deploy check"],
                ["import", "subscription-periods", os.path.join(src, "deploy/local/subscription_periods.csv"),
                 "--tenant=deploycheck"],
                ["metrics", "mrr", "--tenant=deploycheck", "--from=2018-01-01", "--to=2019-12-31"],
            ]
            for step in steps:
                r = run(ctl + step, timeout=60, env=env)
                if r.returncode != 0:
                    problem(f"saasctl {' '.join(step)} failed: {r.stdout}")
                    return
            text = urllib.request.urlopen(f"http://127.0.0.1:{ports.group(2)}/metrics", timeout=10).read().decode()
            exported = exported_series_names(text)
            for name in sorted(used_metric_names(src) - exported):
                problem(f"alerts or dashboard use {name}, which the server does not export")
            readme = open(os.path.join(src, "README.md")).read()
            ops = readme[readme.find("## Operations"):]
            for name in sorted(n for n in exported if not re.search(r"_(bucket|sum|count)$", n)):
                if name not in ops:
                    problem(f"README's Operations section does not list the metric {name}")
            server.send_signal(signal.SIGTERM)
            if server.wait(timeout=30) != 0:
                problem("the server did not exit 0 on SIGTERM")
        finally:
            if server and server.poll() is None:
                server.kill()
                server.wait()
            run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db}"])


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    what, src = sys.argv[1], os.path.abspath(sys.argv[2])
    checks = {"manifests": check_manifests, "prometheus": check_prometheus,
              "dashboard": check_dashboard, "compose": check_compose}
    if what == "live":
        check_live(src, os.path.abspath(sys.argv[3]))
    elif what in checks:
        checks[what](src)
    else:
        print(__doc__)
        return 2
    if not PROBLEMS:
        print(f"deploy {what}: ok")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
