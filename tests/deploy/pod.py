"""The chart's pod, as podman would run it: the rendered Deployment's container, translated.

What is carried over from the manifests: the args (unchanged), the env
(``value``; ``fieldRef`` to the pod's name and namespace; ``secretKeyRef``
and ``envFrom.secretRef`` from the Secrets a test supplies, as a cluster
would), the securityContext (user and group, read-only root, capabilities
dropped, no privilege escalation), the ConfigMap's files at their mount path
(read-only) and the emptyDir as a tmpfs of its sizeLimit. What is not: the
probes (the tests call them), resources, scheduling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.container import Built, Container, free_port

POD_NAME = "release-broadway-py-7c9d8-x2x4k"
NAMESPACE = "apps"


@dataclass(frozen=True)
class Pod:
    """The parts of the rendered manifests a container runtime needs."""

    container: dict[str, Any]
    pod_spec: dict[str, Any]
    config_maps: dict[str, dict[str, str]]

    @property
    def grace_seconds(self) -> int:
        grace: int = self.pod_spec["terminationGracePeriodSeconds"]
        return grace

    def port(self, name: str) -> int:
        for port in self.container["ports"]:
            if port["name"] == name:
                number: int = port["containerPort"]
                return number
        raise KeyError(name)


def pod_of(documents: list[dict[str, Any]]) -> Pod:
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"
    }
    return Pod(container, spec, config_maps)


def _env(pod: Pod, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in pod.container.get("envFrom", []):
        ref = source["secretRef"]["name"]
        assert ref in secrets, f"the pod needs the Secret {ref!r}: give it to the test"
        env |= {source.get("prefix", "") + k: v for k, v in secrets[ref].items()}
    fields = {"metadata.name": POD_NAME, "metadata.namespace": NAMESPACE}
    for variable in pod.container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        source = variable["valueFrom"]
        if "fieldRef" in source:
            env[variable["name"]] = fields[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert ref["key"] in secrets.get(ref["name"], {}), (
                f"the pod needs key {ref['key']!r} of the Secret {ref['name']!r}"
            )
            env[variable["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            raise AssertionError(f"env {variable['name']}: {source} is not translated")
    return env


def container_of(
    pod: Pod,
    built: Built,
    workdir: Path,
    secrets: dict[str, dict[str, str]],
    app_files: dict[str, Path] | None = None,
    host_network: bool = False,
) -> Container:
    """The pod's container.

    ``app_files`` (path under /app -> host file or folder) stand in for the code
    an image built FROM broadway-py would add. With ``host_network`` (to reach
    the test brokers on the host's 127.0.0.1) the only change to the pod's args
    is appended: the HTTP port moves to a free port of 127.0.0.1, since the
    pod's own port would be the host's.
    """
    security = pod.pod_spec.get("securityContext", {}) | pod.container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod.pod_spec["volumes"]}
    mounts: dict[Path, str] = {}
    tmpfs_size = ""
    for mount in pod.container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            folder = workdir / mount["name"]
            folder.mkdir()
            folder.chmod(0o755)
            for key, text in pod.config_maps[volume["configMap"]["name"]].items():
                (folder / key).write_text(text)
                (folder / key).chmod(0o644)
            assert mount.get("readOnly") is True
            mounts[folder] = mount["mountPath"]
        elif "emptyDir" in volume:
            assert mount["mountPath"] == "/tmp", "only /tmp is translated to a tmpfs"
            tmpfs_size = str(volume["emptyDir"]["sizeLimit"]).replace("Mi", "m")
        else:
            raise AssertionError(f"volume {mount['name']}: {volume} is not translated")
    for target, source in (app_files or {}).items():
        mounts[source] = f"/app/{target}"
    port = free_port()
    args = list(pod.container["args"])
    if host_network:
        args += ["--http-port", str(port), "--set", "http.host=127.0.0.1"]
    return Container(
        built,
        args,
        port=port,
        host_network=host_network,
        container_port=pod.port("http"),
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        env=_env(pod, secrets),
        mounts=mounts,
        tmpfs_size=tmpfs_size or "64m",
    )
