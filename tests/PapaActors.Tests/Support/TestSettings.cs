using Akka.Configuration;
using PapaActors.Actors.Configuration;

namespace PapaActors.Tests.Support;

/// <summary>Run configurations for tests: the documented defaults with a tiny model on a small slice of data.</summary>
public static class TestSettings
{
    /// <summary>A tiny synthetic run (8x8 images, narrow cnn, 2 epochs of 12 steps) plus the given overrides.</summary>
    public static Config TinyConfig(params string[] overrides) =>
        PapaConfig.Load(null, new[]
        {
            "dataset=synthetic", "train-limit=400", "test-limit=200", "held-out-fraction=0.1", "synthetic-size=8",
            "model=cnn", "model-width=0.25", "population=3", "epochs=2", "batch-size=30", "eval-batch-size=100",
            "batchnorm.reset-batches=4", "sync-every-steps=4", "ema-every-steps=3", "every-epochs=1", "torch-threads=1",
        }.Concat(overrides));

    public static RunConfig TinyRun(params string[] overrides) => RunConfig.From(TinyConfig(overrides));

    public static PapaSettings Tiny(params string[] overrides) => TinyRun(overrides).Settings;
}
