// ct_script.cpp: TorchScript modules written from C (ct_script_save): a
// torch::jit::Module built in memory, its methods compiled by libtorch's own
// script compiler, saved with Module::save. Its own translation unit because
// the torch::jit headers are the slowest of all to compile, and only
// `hnd export` needs them.
#include "ct_internal.hpp"

#include <torch/csrc/jit/api/module.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <unistd.h>

using namespace ct;

namespace {

// A Python identifier that TorchScript accepts as an attribute name: ASCII
// letters, digits, '_', not starting with a digit, not "training" (the
// attribute every module has) and not starting with "__" (reserved).
bool valid_attr_name(const char *s) {
    if (!s || !*s || std::isdigit((unsigned char)s[0])) return false;
    for (const char *p = s; *p; ++p)
        if (!std::isalnum((unsigned char)*p) && *p != '_') return false;
    return std::strcmp(s, "training") != 0 && std::strncmp(s, "__", 2) != 0;
}

// "a.b.C": dotted identifiers.
bool valid_class_name(const char *s) {
    if (!s || !*s) return false;
    std::string part;
    for (const char *p = s;; ++p) {
        if (*p == '.' || *p == '\0') {
            if (part.empty() || std::isdigit((unsigned char)part[0])) return false;
            if (*p == '\0') return true;
            part.clear();
        } else if (std::isalnum((unsigned char)*p) || *p == '_') {
            part += *p;
        } else {
            return false;
        }
    }
}

// A multi-line message on one line ("a | b | c"), runs of blanks squeezed:
// guard keeps only the first lines of a message, and the script compiler's
// errors quote the source over several lines.
std::string one_line(const char *what) {
    std::string out;
    bool blank = false;
    for (const char *p = what ? what : ""; *p; ++p) {
        if (*p == '\n') {
            while (!out.empty() && out.back() == ' ') out.pop_back();
            if (!out.empty() && out.compare(out.size() - std::min<size_t>(3, out.size()), 3, " | ") != 0)
                out += " | ";
            blank = true;
        } else if (*p == ' ' || *p == '\t') {
            if (!blank) out += ' ';
            blank = true;
        } else {
            out += *p;
            blank = false;
        }
    }
    while (out.size() >= 3 && out.compare(out.size() - 3, 3, " | ") == 0) out.resize(out.size() - 3);
    return out;
}

// Removes the temporary file unless released (an exception between save and
// rename must not leave it behind).
struct TmpFile {
    std::string path;
    bool keep = false;
    ~TmpFile() {
        if (!keep && !path.empty()) std::remove(path.c_str());
    }
};

}  // namespace

extern "C" int ct_script_save(const char *path, const char *cls, const char *source,
                              const char *const *names, const ct_tensor *const *tensors, int n,
                              const char *meta_json) {
    return guard("script_save", {}, -1, [&] {
        if (!path || !*path) raise("path is empty");
        if (!valid_class_name(cls))
            raise(std::string("class name '") + (cls ? cls : "(null)") +
                  "' is not a dotted identifier");
        if (!source) raise("source is NULL");
        if (n < 0) raise("n = " + std::to_string(n) + " < 0");
        if (n > 0 && (!names || !tensors)) raise("names or tensors is NULL");

        // "__torch__." is the namespace torch.jit.load expects of the
        // classes it finds in an archive (Python's own scripted modules live
        // there); callers pass the short name.
        std::string qual = cls;
        if (qual.rfind("__torch__.", 0) != 0) qual = "__torch__." + qual;
        torch::jit::Module mod{c10::QualifiedName(qual)};
        // nn.Module's flag: torch.jit.freeze and Module.eval() read it.
        mod.register_attribute("training", c10::BoolType::get(), false);

        std::set<std::string> seen;
        for (int i = 0; i < n; ++i) {
            const char *nm = names[i];
            if (!valid_attr_name(nm))
                raise("tensor " + std::to_string(i) + ": name '" + (nm ? nm : "(null)") +
                      "' is not a valid attribute name");
            if (!seen.insert(nm).second) raise(std::string("tensor name '") + nm + "' given twice");
            if (!tensors[i]) raise(std::string("tensor '") + nm + "' is NULL");
            // A private contiguous CPU copy: the archive then holds exactly
            // these elements (a view would drag its whole storage along)
            // and the caller's tensor is never aliased.
            at::Tensor v = tensors[i]->t.detach().to(at::kCPU).contiguous().clone();
            v.set_requires_grad(false);
            mod.register_parameter(nm, v, /*is_buffer=*/false);
        }

        try {
            mod.define(source);
        } catch (const c10::Error &e) {
            raise("TorchScript does not compile: " + one_line(e.what_without_backtrace()));
        } catch (const std::exception &e) {
            raise("TorchScript does not compile: " + one_line(e.what()));
        }
        mod.eval();

        torch::jit::ExtraFilesMap extra;
        if (meta_json) extra["hnd.json"] = meta_json;
        TmpFile tmp;
        tmp.path = std::string(path) + ".tmp." + std::to_string((long)getpid());
        {
            // Through a stream, not save(filename): the archive's top folder
            // is then "archive" (as torch.jit.save to a buffer writes it),
            // not the temporary file's name.
            std::ofstream out(tmp.path, std::ios::binary | std::ios::trunc);
            if (!out) raise(tmp.path + ": cannot create: " + std::strerror(errno));
            mod.save(out, extra);
            out.flush();
            out.close();
            if (out.fail()) raise(tmp.path + ": cannot write (disk full?)");
        }
        if (std::rename(tmp.path.c_str(), path) != 0)
            raise(std::string(path) + ": cannot rename " + tmp.path + " into place: " +
                  std::strerror(errno));
        tmp.keep = true;
        return 0;
    });
}
