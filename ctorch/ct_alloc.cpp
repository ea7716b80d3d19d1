// ct_alloc.cpp: a caching allocator for large CPU tensors.
//
// Why: libtorch takes every CPU tensor from posix_memalign. Above glibc's
// mmap threshold (which grows to 32 MB at most) each allocation is a fresh
// mmap, so every large activation of a forward pass at 800x1067 (55 MB for
// 256 channels at stride 4) is page-faulted in and zeroed by the kernel,
// again at every call. Under AddressSanitizer it is worse: its allocator
// maps every block above 128 KB afresh, which made half of the sanitizer
// suite's time kernel time. Here freed blocks of 256 KB and more are kept
// and handed out again to requests of (nearly) the same size; small blocks
// go to malloc as before.
//
// Bounded: at most HND_CPU_CACHE_MB megabytes (default 2048) are kept; the
// blocks freed longest ago go first. HND_CPU_CACHE_MB=0 turns the cache off.
// Under AddressSanitizer a cached block is poisoned, so that a use after
// free through a stale data pointer is still reported.
#include "ctorch.h"

#include <c10/core/CPUAllocator.h>

#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>

#if defined(__SANITIZE_ADDRESS__)
#define CT_ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CT_ALLOC_ASAN 1
#endif
#endif
#ifdef CT_ALLOC_ASAN
#include <sanitizer/asan_interface.h>
#define CT_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CT_POISON(p, n) ((void)(p), (void)(n))
#define CT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace {

constexpr size_t kMinCached = 256 << 10;  // smaller blocks: malloc's own bins do well
constexpr size_t kAlign = 64;             // c10's alignment for CPU tensors
constexpr size_t kRound = 64 << 10;       // block sizes are multiples of this

struct Block {
    void *ptr;
    size_t size;  // the rounded size the block was allocated with
};

class CachingCpuAllocator final : public c10::Allocator {
  public:
    explicit CachingCpuAllocator(size_t limit) : limit_(limit) {}

    c10::DataPtr allocate(size_t n) const override {
        void *p = take(n);
        // small blocks skip the lookup in live_ at release
        return {p, p, n < kMinCached ? &free_small : &release, c10::Device(c10::DeviceType::CPU)};
    }
    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    void stats(ct_cpu_cache_stats *s) {
        std::lock_guard<std::mutex> lk(mu_);
        s->cached_bytes = cached_;
        s->limit_bytes = limit_;
        s->hits = hits_;
        s->misses = misses_;
    }

    void trim(size_t keep) const {
        std::lock_guard<std::mutex> lk(mu_);
        evict_locked(keep);
    }

  private:
    // Size of the block handed out for a request of n bytes: rounded up so
    // that requests that differ by a few rows share blocks.
    static size_t block_size(size_t n) { return (n + kRound - 1) / kRound * kRound; }

    // A cached block of the same rounded size or up to 1/8 larger, else a
    // new one. Blocks keep their size; the header-free scheme needs the size
    // back at release, so each live block is remembered in live_.
    void *take(size_t n) const {
        if (n == 0) n = 1;
        if (n < kMinCached) {
            void *p = nullptr;
            if (posix_memalign(&p, kAlign, n) != 0 || !p) throw std::bad_alloc();
            return p;
        }
        size_t want = block_size(n);
        {
            std::lock_guard<std::mutex> lk(mu_);
            auto it = by_size_.lower_bound(want);
            if (it != by_size_.end() && it->first <= want + want / 8) {
                Block b = *it->second;
                lru_.erase(it->second);
                by_size_.erase(it);
                cached_ -= b.size;
                live_[b.ptr] = b.size;
                ++hits_;
                CT_UNPOISON(b.ptr, b.size);
                return b.ptr;
            }
            ++misses_;
        }
        void *p = nullptr;
        if (posix_memalign(&p, kAlign, want) != 0 || !p) {
            // out of memory with blocks parked here: give them back, retry
            trim(0);
            if (posix_memalign(&p, kAlign, want) != 0 || !p) throw std::bad_alloc();
        }
        std::lock_guard<std::mutex> lk(mu_);
        live_[p] = want;
        return p;
    }

    static void release(void *p);
    static void free_small(void *p) { free(p); }

    void give_back(void *p) {
        if (!p) return;
        size_t size;
        {
            std::lock_guard<std::mutex> lk(mu_);
            auto it = live_.find(p);
            if (it == live_.end()) {  // a small block, never tracked
                free(p);
                return;
            }
            size = it->second;
            live_.erase(it);
            if (size <= limit_) {
                evict_locked(limit_ - size);
                lru_.push_back({p, size});
                by_size_.emplace(size, std::prev(lru_.end()));
                cached_ += size;
                CT_POISON(p, size);
                return;
            }
        }
        free(p);
    }

    // Free cached blocks, oldest first, until at most keep bytes are cached.
    void evict_locked(size_t keep) const {
        while (cached_ > keep && !lru_.empty()) {
            Block b = lru_.front();
            auto range = by_size_.equal_range(b.size);
            for (auto it = range.first; it != range.second; ++it)
                if (it->second == lru_.begin()) {
                    by_size_.erase(it);
                    break;
                }
            lru_.pop_front();
            cached_ -= b.size;
            CT_UNPOISON(b.ptr, b.size);
            free(b.ptr);
        }
    }
    size_t limit_;
    mutable std::mutex mu_;
    mutable std::list<Block> lru_;  // cached blocks, the oldest first
    mutable std::multimap<size_t, std::list<Block>::iterator> by_size_;
    mutable std::map<void *, size_t> live_;  // blocks handed out: their size
    mutable size_t cached_ = 0;
    mutable uint64_t hits_ = 0, misses_ = 0;
};

CachingCpuAllocator *g_cache = nullptr;

void CachingCpuAllocator::release(void *p) {
    if (g_cache) g_cache->give_back(p);
    else free(p);
}

size_t limit_from_env() {
    const char *e = getenv("HND_CPU_CACHE_MB");
    if (!e || !*e) return (size_t)2048 << 20;
    char *end = nullptr;
    long long mb = strtoll(e, &end, 10);
    if (end == e || *end || mb < 0) {
        fprintf(stderr, "hnd: HND_CPU_CACHE_MB=%s is not a number of megabytes: using 2048\n", e);
        return (size_t)2048 << 20;
    }
    return (size_t)mb << 20;
}

}  // namespace

// Installed once per process, before main (ct_core.cpp calls it from a
// static initializer, after libc10's own allocator registered itself), and
// never removed: tensors may outlive everything else at exit.
extern "C" void ct_alloc_install(void) {
    static std::once_flag once;
    std::call_once(once, [] {
        size_t limit = limit_from_env();
        if (limit == 0) return;
        g_cache = new CachingCpuAllocator(limit);
        c10::SetCPUAllocator(g_cache, /*priority=*/1);
    });
}

int ct_cpu_cache_get_stats(ct_cpu_cache_stats *s) {
    if (!s) return -1;
    if (!g_cache) {
        *s = ct_cpu_cache_stats{0, 0, 0, 0};
        return 0;
    }
    g_cache->stats(s);
    return 1;
}

int ct_cpu_cache_trim(void) {
    if (!g_cache) return 0;
    g_cache->trim(0);
    return 1;
}
