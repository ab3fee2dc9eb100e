version: '2'
services:
  web:
    image: drover-hello:{{ .Values.VERSION }}
    environment:
      GREETING: ${GREETING}
      FROM_DOTENV: ${FROM_DOTENV}
      ADMIN_PASSWORD:
    labels:
      stack: "{{ .Stack.Name }}"
{{- if eq .Values.PUBLISH "true" }}
    ports:
      - "127.0.0.1:${PORT}:80"
{{- end }}
  worker:
    image: drover-hello:{{ .Values.VERSION }}
    command: ["/hello"{{ range splitPreserveQuotes .Values.WORKER_ARGS }}, {{ printf "%q" . }}{{ end }}]
