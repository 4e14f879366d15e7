# One image for every role; docker-compose.yml runs each as its own container.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY schemas schemas
COPY domain domain
COPY adapters adapters
COPY application application
COPY consumers consumers
COPY producers producers
COPY projections projections
COPY dashboards dashboards
COPY audit audit
COPY civic civic
COPY bench bench
RUN pip install --no-cache-dir ".[postgres]"
ENV CIVIC_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["python", "-m", "civic.roles"]
