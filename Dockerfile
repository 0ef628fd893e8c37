# syntax=docker/dockerfile:1
# The GRACE operator image: `docker build -t grace:dev .`
#
# Two stages from one base, pinned by digest (a tag moves, a digest does not; bump it with
# `docker buildx imagetools inspect python:3.11-slim-bookworm`). The build stage makes a
# virtualenv from wheels only; the final stage gets that virtualenv and the Rego policies, no
# compiler, no pip, and runs as an unprivileged user with a read-only root filesystem
# (charts/grace sets readOnlyRootFilesystem and mounts /tmp).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
# The project is pure Python; every dependency is installed from a wheel (--only-binary), so
# the build needs no compiler either, and versions come from constraints.txt. Dependencies
# first, in their own layer: a change to the code alone rebuilds in seconds.
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt
# The operator package alone: the lab (lab/, the local cluster, the simulated shop, the demo) is
# a distribution of its own, outside this build context (.dockerignore).
COPY operator ./operator
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall -y pip \
 && /opt/venv/bin/python -m compileall -q /opt/venv
# The embedded policy engine (regopy) links libatomic.so.1, which slim bases lack: taken from
# here (installed when missing) so that the final stage installs no package.
RUN if ! ldconfig -p | grep -q 'libatomic\.so\.1 '; then \
        apt-get update -q && apt-get install -y -q --no-install-recommends libatomic1; \
    fi \
 && mkdir -p /opt/lib && cp -L "$(ldconfig -p | awk '/libatomic\.so\.1 /{print $NF; exit}')" /opt/lib/

FROM ${PYTHON_IMAGE}
# The base image's own installer goes too: nothing in the running image can install code
# (the official image's pip and ensurepip, or Debian's ensurepip and bundled wheels).
# uid 65532 gets a passwd entry and a HOME: getpass/pwd lookups of the running user work.
COPY --from=build /opt/lib/ /usr/local/lib/
RUN python -m pip uninstall -y -q pip setuptools wheel 2>/dev/null; \
    rm -rf /root/.cache /usr/local/lib/python3*/ensurepip /usr/lib/python3*/ensurepip \
        /usr/share/python-wheels; \
    ldconfig \
 && echo 'grace:x:65532:65532:grace:/home/grace:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'grace:x:65532:' >> /etc/group \
 && mkdir -p /home/grace && chown 65532:65532 /home/grace
COPY --from=build /opt/venv /opt/venv
COPY policies /app/policies
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/grace \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# 65532: the conventional "nonroot" uid; the chart runs the pod as the same uid and gid.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["grace"]
CMD ["run"]
