//! A service embedding cnnzoo as a frozen feature extractor: one `Backbone`
//! shared by worker threads, each turning the images it is handed into
//! feature vectors (here: printing their size and norm).
//!
//! cargo run --release -p cnnzoo-infer --example feature_service -- runs/lenet.onnx runs/samples/*.png

use std::sync::{mpsc, Arc, Mutex};

use cnnzoo_infer::{open_image, Backbone, BackboneOptions, InferError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: feature_service MODEL.onnx IMAGE...")?;
    let backbone = Arc::new(Backbone::open(&model, &BackboneOptions::default())?);
    eprintln!("{} backbone on {}: {} features per image", backbone.card().arch, backbone.provider(), backbone.feature_dim());

    let (send, receive) = mpsc::channel::<String>();
    let receive = Arc::new(Mutex::new(receive));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (backbone, receive) = (Arc::clone(&backbone), Arc::clone(&receive));
            std::thread::spawn(move || loop {
                let Ok(path) = receive.lock().map_err(|_| ()).and_then(|r| r.recv().map_err(|_| ())) else { return };
                match open_image(path.as_ref()).map_err(InferError::from).and_then(|img| backbone.embed(&[img])) {
                    Ok(f) => println!("worker {worker}: {path}: {} features, norm {:.3}", f.ncols(), f.row(0).dot(&f.row(0)).sqrt()),
                    Err(e) => eprintln!("worker {worker}: {e}"),
                }
            })
        })
        .collect();
    for path in args {
        send.send(path)?;
    }
    drop(send);
    for w in workers {
        w.join().map_err(|_| "a worker panicked")?;
    }
    Ok(())
}
