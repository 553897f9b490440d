# node-gyp build of the addon. Sources and flags come from scripts/build-config.mjs, which
# CMakeLists.txt (cmake-js) reads too: edit the list there, never here.
{
  "variables": {
    "nn_cuda%": "<!(node scripts/build-config.mjs cuda)",
    "nn_nvcc%": "<!(node scripts/build-config.mjs nvcc)",
    "nn_cuda_include%": "<!(node scripts/build-config.mjs cuda_include)",
    "nn_cuda_lib%": "<!(node scripts/build-config.mjs cuda_lib)"
  },
  "targets": [
    {
      "target_name": "node_nccl",
      "sources": ["<!@(node scripts/build-config.mjs sources)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "cpp"],
      "defines": ["<!@(node scripts/build-config.mjs defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["<!@(node scripts/build-config.mjs cflags)"],
      "libraries": ["<!@(node scripts/build-config.mjs libs)"],
      "conditions": [
        ["nn_cuda==1", {
          "sources": ["<!@(node scripts/build-config.mjs cuda_sources)"],
          "include_dirs": ["<(nn_cuda_include)"],
          "libraries": ["<(nn_cuda_lib)/libcudart_static.a"],
          "rules": [{
            "rule_name": "nvcc",
            "extension": "cu",
            "inputs": ["<(RULE_INPUT_PATH)", "<!@(node scripts/build-config.mjs cuda_headers)"],
            "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).cu.o"],
            "message": "nvcc <(RULE_INPUT_PATH)",
            "process_outputs_as_sources": 1,
            "action": ["<(nn_nvcc)", "<!@(node scripts/build-config.mjs nvcc_flags)", "-Icpp",
                       "-c", "<(RULE_INPUT_PATH)", "-o", "<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).cu.o"]
          }]
        }]
      ]
    }
  ]
}
