#pragma once
// Portable vectorisation: hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
// (GCC/Clang target_clones, an ifunc), so the binary runs on any x86-64 machine and is never -march=native.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(MS_NO_CLONES)
#define MS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MS_CLONES
#endif
