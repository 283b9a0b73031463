// vfgatectl validate FILE... and vfgatectl describe FILE.

#include <iostream>
#include <memory>

#include <vfgate/config/describe.hpp>
#include <vfgate/config/load.hpp>

#include "commands.hpp"

namespace vfgate::ctl {
namespace {

struct ValidateArgs {
    std::vector<std::string> files;
    bool quiet = false;
};

int validate(const ValidateArgs& args) {
    int status = kOk;
    for (const auto& file : args.files) {
        auto result = config::load_file(file);
        if (!result.ok()) {
            for (const auto& d : result.errors) std::cerr << d.to_string() << "\n";
            std::cerr << file << ": invalid, " << result.errors.size()
                      << (result.errors.size() == 1 ? " error\n" : " errors\n");
            status = kFailed;
            continue;
        }
        if (!args.quiet) {
            std::cout << file << ": valid: " << config::summary_line(*result.config) << "\n";
        }
    }
    return status;
}

int describe(const std::string& file) {
    auto result = config::load_file(file);
    if (!result.ok()) {
        for (const auto& d : result.errors) std::cerr << d.to_string() << "\n";
        return kFailed;
    }
    std::cout << config::describe(*result.config);
    return kOk;
}

}  // namespace

void add_config_commands(CLI::App& app, std::function<int()>& run) {
    auto v = std::make_shared<ValidateArgs>();
    auto* cmd = app.add_subcommand("validate",
                                   "Check config files; print every error with its "
                                   "file, line, column and key path");
    cmd->add_option("FILE", v->files, "config files (YAML, version 1)")->required();
    cmd->add_flag("-q,--quiet", v->quiet, "print nothing for valid files");
    cmd->callback([v, &run] { run = [v] { return validate(*v); }; });

    auto file = std::make_shared<std::string>();
    auto* desc = app.add_subcommand("describe",
                                    "Print what a config declares: dataplane, "
                                    "PFs, guests, NICs, rules, broadcast domains");
    desc->add_option("FILE", *file, "config file")->required();
    desc->callback([file, &run] { run = [file] { return describe(*file); }; });
}

}  // namespace vfgate::ctl
