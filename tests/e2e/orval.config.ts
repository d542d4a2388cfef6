// The backend's orval configuration, as it is there, except for the input:
// the running daemon's /openapi.json (run.sh sets ORVAL_INPUT) and the target
// directory (generated/, made fresh on every run).
import { defineConfig } from 'orval';

const input = process.env.ORVAL_INPUT ?? 'http://localhost:8080/openapi.json';

export default defineConfig({
  codeExecution: {
    input,
    output: {
      target: './generated',
      client: 'axios',
      mode: 'split',
      mock: false,
      clean: true,
      override: {
        mutator: {
          path: './mutator.ts',
          name: 'codeExecutionAxiosInstance',
        },
      },
    },
  },
});
