-- Run once by the pgvector image on first start (see infra/docker-compose.yml).
CREATE EXTENSION IF NOT EXISTS vector;
