//! The zoo's shapes and sizes, checked against the published figures.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::every;

use cnnzoo_models::{build, Arch, Config, ModelError, ARCHS};

#[test]
fn parameter_counts_match_the_reference() {
    let expected = [
        ("lenet", 61_706),
        ("alexnet", 46_764_746),
        ("nin", 1_992_166),
        ("googlenet", 5_977_530),
        ("resnet18", 11_178_378),
        ("densenet", 758_226),
        // torchvision's own counts (`sum(p.numel() for p in model.parameters())`).
        ("tv_alexnet", 61_100_840),
        ("tv_googlenet", 6_624_904),
        ("tv_resnet18", 11_689_512),
        ("tv_resnet34", 21_797_672),
        ("tv_resnet50", 25_557_032),
        ("tv_densenet121", 7_978_856),
    ];
    assert_eq!(ARCHS.len(), expected.len());
    every::every(
        expected,
        |(name, _)| name.to_string(),
        |&(name, count)| {
            let arch = Arch::find(name).unwrap();
            let g = arch.build(&arch.default_config()).unwrap();
            assert_eq!(g.parameter_count(), count, "{name}");
        },
    );
}

#[test]
fn feature_dims_and_logits() {
    let expected = [
        ("lenet", 84),
        ("alexnet", 4096),
        ("nin", 384),
        ("googlenet", 1024),
        ("resnet18", 512),
        ("densenet", 248),
        ("tv_alexnet", 4096),
        ("tv_googlenet", 1024),
        ("tv_resnet18", 512),
        ("tv_resnet34", 512),
        ("tv_resnet50", 2048),
        ("tv_densenet121", 1024),
    ];
    every::every(
        expected,
        |(name, _)| name.to_string(),
        |&(name, dim)| {
            let arch = Arch::find(name).unwrap();
            let cfg = arch.default_config();
            let g = arch.build(&cfg).unwrap();
            assert_eq!(g.feature_dim(), dim, "{name}");
            assert_eq!(g.nodes[g.logits].shape, vec![cfg.classes], "{name}");
            assert_eq!(g.input_shape(), [cfg.in_channels, arch.recipe.size, arch.recipe.size]);
        },
    );
}

#[test]
fn alexnet_flatten_width_is_derived() {
    let g = build("alexnet", &Config { in_channels: 1, classes: 10, size: 224 }).unwrap();
    let fc1 = g.nodes.iter().find(|n| n.name == "fc1").unwrap();
    assert_eq!(fc1.params[0].shape, vec![4096, 6400]);
}

#[test]
fn parameter_names_follow_the_state_dict_convention() {
    let g = build("resnet18", &Arch::find("resnet18").unwrap().default_config()).unwrap();
    let names: Vec<&str> = g.params().map(|p| p.name.as_str()).collect();
    for want in ["stem.conv.weight", "stage2.0.conv1.weight", "stage2.0.shortcut.bias", "stage4.1.bn2.running_var", "fc.weight"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "parameter names must be unique");
}

#[test]
fn too_small_input_names_the_smallest_size_that_works() {
    // GoogLeNet and ResNet-18 pad every window, so even a 1x1 input flows through them.
    let mut rejected = vec![];
    for arch in ARCHS {
        let Err(err) = arch.build(&Config { size: 1, ..arch.default_config() }) else {
            continue;
        };
        let ModelError::TooSmall { min, .. } = err else { panic!("{}: {err}", arch.name) };
        assert!(min > 1 && min <= arch.recipe.size, "{}: min {min}", arch.name);
        assert!(arch.build(&Config { size: min, ..arch.default_config() }).is_ok());
        assert!(arch.build(&Config { size: min - 1, ..arch.default_config() }).is_err(), "{}: {} should be too small", arch.name, min - 1);
        assert!(err.to_string().contains(&format!("smallest size that works is {min}")), "{err}");
        rejected.push((arch.name, min));
    }
    let names: Vec<_> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(names, ["lenet", "alexnet", "nin", "densenet", "tv_alexnet", "tv_googlenet", "tv_densenet121"]);
    // LeNet: s/2 after the first pool, s/2 - 4 after conv2, and the last 2x2 pool needs 2: 12 px.
    assert_eq!(rejected[0].1, 12);
}

#[test]
fn torchvision_layouts_name_their_parameters_as_its_state_dicts() {
    // First, last and some inner keys of torchvision's state_dicts, and their
    // count without `num_batches_tracked` (one per batch norm).
    let cases = [
        ("tv_resnet18", 122 - 20, &["conv1.weight", "layer2.0.downsample.1.running_var", "layer4.1.bn2.bias", "fc.bias"][..]),
        ("tv_resnet50", 320 - 53, &["layer1.0.conv3.weight", "layer3.5.bn3.running_mean", "layer4.0.downsample.0.weight"]),
        (
            "tv_densenet121",
            727 - 121,
            &[
                "features.conv0.weight",
                "features.denseblock3.denselayer24.conv2.weight",
                "features.transition2.norm.weight",
                "features.norm5.running_var",
                "classifier.weight",
            ],
        ),
        (
            "tv_googlenet",
            344 - 57,
            &[
                "conv1.conv.weight",
                "conv1.bn.running_var",
                "inception4e.branch3.1.conv.weight",
                "inception5b.branch4.1.bn.bias",
                "fc.weight",
            ],
        ),
        ("tv_alexnet", 16, &["features.0.weight", "features.10.bias", "classifier.1.weight", "classifier.6.bias"]),
    ];
    for (name, count, keys) in cases {
        let arch = Arch::find(name).unwrap();
        let g = arch.build(&arch.default_config()).unwrap();
        let names: Vec<&str> = g.params().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), count, "{name}");
        for key in keys {
            assert!(names.contains(key), "{name}: {key} missing");
        }
    }
    // AlexNet's classifier reads 256 x 6 x 6 whatever the input size.
    let small = build("tv_alexnet", &Config { in_channels: 1, classes: 10, size: 64 }).unwrap();
    assert_eq!(small.params().find(|p| p.name == "classifier.1.weight").unwrap().shape, vec![4096, 9216]);
}

#[test]
fn unknown_arch_lists_the_known_ones() {
    let err = Arch::find("vgg").unwrap_err().to_string();
    assert!(err.contains("vgg") && err.contains("resnet18") && err.contains("densenet"), "{err}");
}

#[test]
fn lenet_flops_are_counted() {
    // conv1 2*6*28*28*25, conv2 2*16*10*10*150, fcs 2*(400*120 + 120*84 + 84*10) multiply-adds,
    // plus pools, sigmoids and nothing else.
    let g = build("lenet", &Arch::find("lenet").unwrap().default_config()).unwrap();
    let macs = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10;
    let elementwise = 6 * 28 * 28 + 6 * 14 * 14 * 4 + 16 * 10 * 10 + 16 * 5 * 5 * 4 + 120 + 84;
    assert_eq!(g.flops(), 2 * macs + elementwise);
}
