#include "io/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/safetensors.h"
#include "nn/module.h"
#include "ops/creation.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"

namespace wick::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "checkpoint/1";
constexpr const char* kSections[] = {"model.", "optimizer.", "scheduler.", "rng."};

std::string join_sections(const Checkpoint& c) {
  std::string s = "model";
  if (c.has_optimizer) s += ",optimizer";
  if (c.has_scheduler) s += ",scheduler";
  return s;
}

bool has_section(const std::string& list, const std::string& name) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (list.compare(start, end - start, name) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Decimal int64, the whole string.
std::optional<int64_t> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

Tensor pack_generator(const GeneratorState& g) {
  return from_vector(std::vector<int64_t>{static_cast<int64_t>(g.seed), static_cast<int64_t>(g.offset)});
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  StateDict all;
  all.update(ckpt.model, "model.");
  all.update(ckpt.optimizer, "optimizer.");
  all.update(ckpt.scheduler, "scheduler.");
  for (const auto& [name, g] : ckpt.rng) {
    WICK_CHECK(!name.empty(), "save_checkpoint: a generator needs a name");
    all.insert("rng." + name, pack_generator(g));
  }
  Metadata md;
  for (const auto& [k, v] : ckpt.metadata) md["user." + k] = v;
  md["wick.format"] = kFormat;
  md["wick.step"] = std::to_string(ckpt.step);
  md["wick.sections"] = join_sections(ckpt);
  save_safetensors(path, all, md, /*checksum=*/true);
}

Checkpoint load_checkpoint(const std::string& path) {
  StateDict all;
  Metadata md;
  try {
    all = load_safetensors(path, &md);
  } catch (const Error& e) {
    // "load_safetensors: <path> is corrupt: ..." -> "load_checkpoint: checkpoint <path> is corrupt: ..."
    std::string msg = e.what();
    const std::string prefix = "load_safetensors: ";
    if (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
    WICK_FAIL("load_checkpoint: ", msg.compare(0, path.size(), path) == 0 ? "checkpoint " : "", msg);
  }
  auto fmt = md.find("wick.format");
  WICK_CHECK(fmt != md.end(), "load_checkpoint: ", path,
             " is a safetensors file but not a wick checkpoint (no wick.format metadata)");
  WICK_CHECK(fmt->second == kFormat, "load_checkpoint: ", path, " has checkpoint format '", fmt->second,
             "', this build reads '", kFormat, "'");
  WICK_CHECK(md.count("wick.crc32"), "load_checkpoint: checkpoint ", path, " has no checksum (wick.crc32)");

  Checkpoint c;
  auto step = md.count("wick.step") ? parse_int(md["wick.step"]) : std::nullopt;
  WICK_CHECK(step.has_value(), "load_checkpoint: checkpoint ", path, " is corrupt: bad wick.step '",
             md.count("wick.step") ? md["wick.step"] : "", "'");
  c.step = *step;
  const std::string sections = md.count("wick.sections") ? md["wick.sections"] : "model";
  c.has_optimizer = has_section(sections, "optimizer");
  c.has_scheduler = has_section(sections, "scheduler");
  for (const auto& [k, v] : md)
    if (k.compare(0, 5, "user.") == 0) c.metadata[k.substr(5)] = v;

  for (const auto& [name, t] : all) {
    int section = -1;
    for (int s = 0; s < 4; ++s)
      if (name.compare(0, std::strlen(kSections[s]), kSections[s]) == 0) section = s;
    WICK_CHECK(section >= 0, "load_checkpoint: checkpoint ", path, " has a tensor '", name,
               "' outside the model/optimizer/scheduler/rng sections");
    const std::string key = name.substr(std::strlen(kSections[section]));
    if (section == 0) {
      c.model.insert(key, t);
    } else if (section == 1) {
      c.optimizer.insert(key, t);
    } else if (section == 2) {
      c.scheduler.insert(key, t);
    } else {
      WICK_CHECK(t.dtype() == kInt64 && t.dim() == 1 && t.size(0) == 2, "load_checkpoint: checkpoint ", path,
                 " is corrupt: generator state '", name, "' must be int64 [2] (seed, offset), got ", t.dtype(), " ",
                 shape_str(t.sizes()));
      const auto* v = t.data_ptr<int64_t>();
      c.rng[key] = {static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1])};
    }
  }
  return c;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, int64_t step, const CheckpointOptions& options) {
  Checkpoint c;
  c.model = model.state_dict();
  if (optimizer) {
    c.optimizer = optimizer->state_dict();
    c.has_optimizer = true;
  }
  if (scheduler) {
    c.scheduler = scheduler->state_dict();
    c.has_scheduler = true;
  }
  c.step = step;
  if (options.default_generator) c.rng["default"] = GeneratorState::of(default_generator());
  for (const auto& [name, g] : options.generators) {
    WICK_CHECK(g != nullptr, "save_checkpoint: generator '", name, "' is null");
    WICK_CHECK(name != "default" || !options.default_generator, "save_checkpoint: the generator name 'default' ",
               "is taken by wick::default_generator()");
    c.rng[name] = GeneratorState::of(*g);
  }
  c.metadata = options.metadata;
  save_checkpoint(path, c);
}

Checkpoint load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer,
                           optim::LRScheduler* scheduler, const CheckpointOptions& options) {
  Checkpoint c = load_checkpoint(path);
  // Check that everything requested is there before changing anything.
  WICK_CHECK(!optimizer || c.has_optimizer, "load_checkpoint: checkpoint ", path,
             " holds no optimizer state, but an optimizer was given to restore");
  WICK_CHECK(!scheduler || c.has_scheduler, "load_checkpoint: checkpoint ", path,
             " holds no scheduler state, but a scheduler was given to restore");
  WICK_CHECK(!options.default_generator || c.rng.count("default"), "load_checkpoint: checkpoint ", path,
             " holds no state for the default generator");
  for (const auto& [name, g] : options.generators) {
    WICK_CHECK(g != nullptr, "load_checkpoint: generator '", name, "' is null");
    WICK_CHECK(c.rng.count(name), "load_checkpoint: checkpoint ", path, " holds no state for generator '", name,
               "'");
  }
  try {
    model.load_state_dict(c.model, options.strict);
    if (optimizer) optimizer->load_state_dict(c.optimizer);
    if (scheduler) scheduler->load_state_dict(c.scheduler);
  } catch (const Error& e) {
    WICK_FAIL("load_checkpoint: ", path, ": ", e.what());
  }
  if (options.default_generator) c.rng.at("default").restore(default_generator());
  for (const auto& [name, g] : options.generators) c.rng.at(name).restore(*g);
  return c;
}

std::string checkpoint_path(const std::string& dir, int64_t step) {
  WICK_CHECK(step >= 0, "checkpoint_path: step must be >= 0, got ", step);
  char name[64];
  std::snprintf(name, sizeof name, "step_%09lld.safetensors", static_cast<long long>(step));
  return (fs::path(dir) / name).string();
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const std::string prefix = "step_", suffix = ".safetensors";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    if (auto step = parse_int(digits); step && entry.is_regular_file(ec)) out.emplace_back(*step, entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  auto all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::vector<std::string> remove_old_checkpoints(const std::string& dir, int64_t keep_last) {
  WICK_CHECK(keep_last >= 1, "remove_old_checkpoints: keep_last must be >= 1, got ", keep_last);
  auto all = list_checkpoints(dir);
  std::vector<std::string> removed;
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
    WICK_CHECK(!ec, "remove_old_checkpoints: cannot remove ", all[i].second, ": ", ec.message());
    removed.push_back(all[i].second);
  }
  return removed;
}

}  // namespace wick::io
