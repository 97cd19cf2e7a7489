//! The tch backend against the graph, for every registered network, on real
//! Fashion-MNIST images.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::every;
use every::every_network;

mod common;
use common::{first_batch, turn};

use cnnzoo_train::trainer::batch_input;
use cnnzoo_train::Net;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

#[test]
fn inferred_shapes_equal_tch_shapes_for_every_network() {
    let _turn = turn();
    every_network(|arch| {
        let cfg = arch.fashion_config(64);
        let graph = arch.build(&cfg).unwrap();
        let vs = VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), graph.clone());
        let x = Tensor::rand([2, 1, cfg.size as i64, cfg.size as i64], (Kind::Float, Device::Cpu));
        let values = tch::no_grad(|| net.values(&x));
        for (node, value) in graph.nodes.iter().zip(&values) {
            let t = value.as_ref().unwrap_or_else(|| panic!("{}: {} was not computed", arch.name, node.name));
            let mut want = vec![2i64];
            want.extend(node.shape.iter().map(|&d| d as i64));
            assert_eq!(t.size(), want, "{}: {}", arch.name, node.name);
        }
        // The VarStore holds exactly the graph's parameters, under the graph's names.
        let mut stored: Vec<String> = vs.variables().into_keys().collect();
        let mut named: Vec<String> = graph.params().map(|p| p.name.clone()).collect();
        stored.sort();
        named.sort();
        assert_eq!(stored, named, "{}", arch.name);
        let trainable: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(trainable as usize, graph.parameter_count(), "{}", arch.name);
    });
}

#[test]
fn a_few_sgd_steps_lower_the_loss_of_every_network() {
    let (_turn, batch) = first_batch(16);
    every_network(|arch| {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let cfg = arch.fashion_config(64);
        let net = Net::new(&vs.root(), arch.build(&cfg).unwrap());
        let x = batch_input(&batch.images, Device::Cpu, cfg.size);
        let y = &batch.labels;
        // Same dropout masks for both measurements: reseed before each.
        let loss = |net: &Net| {
            tch::manual_seed(7);
            tch::no_grad(|| f64::try_from(net.forward(&x, true).cross_entropy_for_logits(y)).unwrap())
        };
        let before = loss(&net);
        // A tenth of the recipe rate: a fixed tiny batch, where the full rate can overshoot.
        let mut opt = tch::nn::Sgd::default().build(&vs, arch.recipe.lr / 10.0).unwrap();
        // The same dropout masks in every step as in the measurements: gradient
        // descent on one fixed objective, so a small step must lower it.
        for _ in 0..4 {
            tch::manual_seed(7);
            opt.backward_step(&net.forward(&x, true).cross_entropy_for_logits(y));
        }
        let after = loss(&net);
        assert!(after < before, "{}: loss {before:.4} -> {after:.4}", arch.name);
    });
}
