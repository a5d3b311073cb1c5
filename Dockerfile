# The image every stockray pod runs (KubeRay head/workers, the RayJob, the collect CronJob):
# Ray 2.60 on Python 3.11 plus this repository installed, so `serve_app.app:app` imports
# and `python -m jobs.NAME` runs without a runtime_env upload. The shipped configs/ are
# installed with the package; mount your own and set STOCKRAY_CONFIG_DIR to replace them.
#
#   docker build -t registry.example.com/stockray:0.1.0 .
#   docker push registry.example.com/stockray:0.1.0      # then set it in cluster/k8s/*.yaml
FROM rayproject/ray:2.60.0-py311

WORKDIR /home/ray/stockray
COPY --chown=ray:users . .
RUN pip install --no-cache-dir . \
    && python -c "import serve_app.app, jobs.backfill, jobs.collect, jobs.analyze"

ENV STOCKRAY_HOME=/data \
    STOCKRAY_LOG_JSON=true
