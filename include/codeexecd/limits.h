/* Every fixed cap of codeexecd, defined once. Configurable limits have their
 * defaults here and their ranges in config.c's schema table. */
#ifndef CODEEXECD_LIMITS_H
#define CODEEXECD_LIMITS_H

#define CXD_KIB (1024L)
#define CXD_MIB (1024L * 1024L)

/* HTTP server */
#define CXD_BODY_MAX_DEFAULT        (64L * CXD_MIB)  /* server.max_body_bytes */
#define CXD_HEADER_MEMORY_DEFAULT   (32L * CXD_KIB)  /* server.header_memory_bytes */
#define CXD_BODY_DROP_MIN           (16L * CXD_MIB)  /* read past the body limit before closing */
#define CXD_PATH_MAX                2048             /* request path we route on */

/* Requests */
#define CXD_FILE_NAME_MAX           255              /* bytes in one request file name */
#define CXD_REQUEST_FILES_DEFAULT   100              /* request.max_files */
#define CXD_STDIN_MAX_DEFAULT       (1L * CXD_MIB)   /* request.max_stdin_bytes */

/* Output of one execution */
#define CXD_STREAM_MAX_DEFAULT      (1L * CXD_MIB)   /* output.max_stdout_bytes, max_stderr_bytes */
#define CXD_OUT_FILES_DEFAULT       64               /* output.max_files */
#define CXD_OUT_FILE_MAX_DEFAULT    (10L * CXD_MIB)  /* output.max_file_bytes */
#define CXD_OUT_TOTAL_MAX_DEFAULT   (50L * CXD_MIB)  /* output.max_total_bytes */
#define CXD_INCLUDE_PATTERNS_MAX    16               /* output.include entries */
#define CXD_PRELOAD_MAX             16               /* execution.preload modules */
#define CXD_PATTERN_MAX             128              /* bytes in one include pattern */
#define CXD_OUT_NAME_MAX            4096             /* bytes in one output file name */
#define CXD_OUT_SEGMENT_MAX         255              /* bytes in one of its path segments */

/* Docker Engine client */
#define CXD_DOCKER_RESPONSE_MAX     (4L * CXD_MIB)   /* one JSON answer of the engine */
#define CXD_DOCKER_ERROR_TEXT_MAX   512              /* engine error text we quote */
#define CXD_DOCKER_HEADER_MAX       (16L * CXD_KIB)  /* hijacked attach response head */
#define CXD_CONTAINER_ID_MAX        64               /* hex characters of an id */

/* Run protocol (runner <-> daemon) */
#define CXD_RECORD_CHUNK_MAX        (64L * CXD_KIB)  /* one stdout/stderr record */
#define CXD_RECORD_STATUS_MAX       (4L * CXD_KIB)   /* the final status and ready records */
#define CXD_PRELOAD_WAIT_MS         120000           /* a warm container's imports, at most */

/* Strings */
#define CXD_ERR_MAX                 512              /* caller-owned error buffers */
#define CXD_EXEC_ID_LEN             8                /* hex characters of an execution id */
#define CXD_CONFIG_STRING_MAX       1024             /* any configured string */
#define CXD_CORS_ORIGINS_MAX        16               /* server.cors_origins entries */

#endif
