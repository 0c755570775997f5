-- A small hand-written trace: two requests r1 and r2 batched together as batch 3 (NVTX ranges),
-- (docs/annotations.md: the batch carries its members and tokens; a stage without ids inside it is a span
-- of each member), one h2d copy, a memset, two kernels, a d2h and a d2d copy, a synchronisation, and the runtime calls.
INSERT INTO StringIds VALUES (1, 'gemm_kernel(float*)'), (2, 'gemm'), (3, 'cudaLaunchKernel_v7000'),
  (4, 'cudaMemcpyAsync_v3020'), (5, 'servprof.request:r2'), (6, 'softmax_kernel');
INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0'), ('EXPORT_PRODUCT_VERSION', '2023.4.1');
INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, streamId, correlationId, globalPid,
  demangledName, shortName) VALUES (2000, 5000, 0, 1, 7, 11, 1, 1, 2), (6000, 6500, 0, 1, 7, 13, 1, 6, 6);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, contextId, streamId, correlationId, globalPid,
  bytes, copyKind) VALUES (1000, 1800, 0, 1, 7, 10, 1, 4096, 1), (7000, 7400, 0, 1, 7, 14, 1, 2048, 2),
  (7500, 7600, 0, 1, 7, 16, 1, 512, 8);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (1900, 1950, 0, 1, 7, 12, 1, 0, 256);
INSERT INTO CUPTI_ACTIVITY_KIND_SYNCHRONIZATION VALUES (6600, 6900, 0, 1, 7, 15, 1, 3, 0);
INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (900, 1000, 1, 5, 10, 4, 0), (1500, 1700, 1, 5, 11, 3, 0),
  (5500, 5600, 1, 5, 13, 3, 0), (7000, 7010, 1, 5, 99, 4, 0);
INSERT INTO NVTX_EVENTS (start, end, eventType, text, textId) VALUES
  (500, 8000, 59, 'servprof.request:r1;tokens=12', NULL),
  (600, 8100, 59, NULL, 5),
  (500, 900, 59, 'servprof.stage.preprocess:r1', NULL),
  (900, 1000, 59, 'servprof.stage.queue:r1', NULL),
  (1000, 7700, 59, 'servprof.batch:3[r1,r2];effective=5;padded=8', NULL),
  (2000, 5000, 59, 'servprof.stage.forward', NULL),
  (1000, 1100, 59, 'torch.matmul', NULL),
  (2000, NULL, 34, 'servprof.request:mark', NULL),
  (7700, 8000, 59, 'servprof.stage.postprocess:r1', NULL),
  (100, 200, 59, 'servprof.future:x', NULL),
  (100, 200, 59, 'servprof.stage.warmup', NULL);
